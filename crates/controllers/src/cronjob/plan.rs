//! Pure CronJob decisions: which scheduled time is due, names, and history pruning.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use k8s_openapi::api::batch::v1::Job;
use kube::runtime::controller::Action;

use super::schedule::Schedule;

/// The schedule times passed since the last start: the latest, and how many there were.
#[derive(Debug, PartialEq, Eq)]
pub struct Missed {
    pub latest: Option<Timestamp>,
    pub count: u32,
}

/// Beyond this many iterations the walk jumps close to `now` instead of counting every
/// missed time of a very old, very frequent schedule.
const WALK_LIMIT: u32 = 10_000;

/// Scheduled times in `(earliest, now]`, where `earliest` is the last schedule time (or
/// creation) moved up to `now - startingDeadlineSeconds` when that is later.
pub fn missed(
    sched: &Schedule,
    tz: &TimeZone,
    earliest: Timestamp,
    now: Timestamp,
    starting_deadline: Option<i64>,
) -> Missed {
    let mut from = earliest;
    if let Some(sds) = starting_deadline {
        let cutoff = now - SignedDuration::from_secs(sds);
        if cutoff > from {
            from = cutoff;
        }
    }
    let mut latest = None;
    let mut count = 0u32;
    let mut t = from;
    while let Some(next) = sched.next(t, tz).filter(|n| *n <= now) {
        latest = Some(next);
        count = count.saturating_add(1);
        t = next;
        if count == WALK_LIMIT {
            // Still very many: the exact count no longer matters, only the latest time.
            let near = now - SignedDuration::from_hours(24);
            if near > t {
                t = near;
            }
        }
    }
    Missed { latest, count }
}

/// Whether a start at `scheduled` is past its starting deadline.
pub fn too_late(scheduled: Timestamp, now: Timestamp, starting_deadline: Option<i64>) -> bool {
    starting_deadline.is_some_and(|s| scheduled + SignedDuration::from_secs(s) < now)
}

/// `<cronjob>-<scheduled time in minutes since the epoch>`: one name per scheduled time,
/// so a second sync for the same time cannot start a second Job.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// Look again just after the next scheduled time.
pub fn requeue_after(sched: &Schedule, tz: &TimeZone, now: Timestamp) -> Action {
    match sched.next(now, tz) {
        Some(next) => {
            let wait = next.duration_since(now).unsigned_abs() + Duration::from_millis(100);
            Action::requeue(wait)
        }
        None => Action::await_change(),
    }
}

/// RFC 3339 in the schedule's zone, `Z` for UTC, as Go's `time.RFC3339` writes it.
pub fn rfc3339_in(t: Timestamp, tz: &TimeZone) -> String {
    let z = t.to_zoned(tz.clone());
    if z.offset().seconds() == 0 {
        z.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        z.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

/// The oldest jobs (by start time, unstarted first, then name) beyond `limit`.
pub fn oldest_beyond(mut jobs: Vec<&Job>, limit: i32) -> Vec<&Job> {
    let keep = usize::try_from(limit).unwrap_or(0);
    if jobs.len() <= keep {
        return Vec::new();
    }
    jobs.sort_by(|a, b| {
        let start = |j: &Job| {
            j.status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0)
        };
        start(a)
            .cmp(&start(b))
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
    });
    let excess = jobs.len() - keep;
    jobs.truncate(excess);
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    /// (schedule, earliest, now, startingDeadlineSeconds, latest, count)
    type MissedCase<'a> = (&'a str, &'a str, &'a str, Option<i64>, Option<&'a str>, u32);

    #[test]
    fn missed_times() {
        // (schedule, earliest, now, startingDeadlineSeconds, latest, count)
        let cases: &[MissedCase] = &[
            (
                "*/1 * * * *",
                "2024-01-01T00:00:10Z",
                "2024-01-01T00:00:50Z",
                None,
                None,
                0,
            ),
            (
                "*/1 * * * *",
                "2024-01-01T00:00:10Z",
                "2024-01-01T00:01:00Z",
                None,
                Some("2024-01-01T00:01:00Z"),
                1,
            ),
            (
                "*/1 * * * *",
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:10:30Z",
                None,
                Some("2024-01-01T00:10:00Z"),
                10,
            ),
            // The deadline hides older misses.
            (
                "*/1 * * * *",
                "2024-01-01T00:00:00Z",
                "2024-01-01T00:10:30Z",
                Some(120),
                Some("2024-01-01T00:10:00Z"),
                2,
            ),
            (
                "0 * * * *",
                "2024-01-01T00:00:00Z",
                "2024-01-06T00:30:00Z",
                None,
                Some("2024-01-06T00:00:00Z"),
                120,
            ),
            // Far too many to walk one by one: the latest is still exact.
            (
                "* * * * *",
                "2023-01-01T00:00:00Z",
                "2024-01-01T00:10:30Z",
                None,
                Some("2024-01-01T00:10:00Z"),
                WALK_LIMIT + 1440,
            ),
        ];
        for (spec, earliest, now, sds, latest, count) in cases {
            let s = Schedule::parse(spec).unwrap();
            let got = missed(&s, &TimeZone::UTC, ts(earliest), ts(now), *sds);
            let want = Missed {
                latest: latest.map(ts),
                count: *count,
            };
            assert_eq!(got, want, "{spec} {earliest}..{now} sds={sds:?}");
        }
    }

    #[test]
    fn names_deadlines_and_stamps() {
        assert_eq!(
            job_name("hello", ts("2024-01-01T00:01:00Z")),
            "hello-28401121"
        );
        let t = ts("2024-01-01T00:01:00Z");
        assert!(!too_late(t, ts("2024-01-01T00:01:30Z"), None));
        assert!(!too_late(t, ts("2024-01-01T00:01:30Z"), Some(60)));
        assert!(too_late(t, ts("2024-01-01T00:02:30Z"), Some(60)));
        assert_eq!(rfc3339_in(t, &TimeZone::UTC), "2024-01-01T00:01:00Z");
        let tokyo = TimeZone::get("Asia/Tokyo").unwrap();
        assert_eq!(rfc3339_in(t, &tokyo), "2024-01-01T09:01:00+09:00");
    }

    #[test]
    fn history_pruning() {
        let job = |name: &str, start: Option<&str>| Job {
            metadata: ObjectMeta {
                name: Some(name.into()),
                ..Default::default()
            },
            status: Some(JobStatus {
                start_time: start.map(|s| Time(ts(s))),
                ..Default::default()
            }),
            ..Default::default()
        };
        let jobs = [
            job("c", Some("2024-01-03T00:00:00Z")),
            job("a", Some("2024-01-01T00:00:00Z")),
            job("n", None),
            job("b", Some("2024-01-02T00:00:00Z")),
        ];
        let names = |limit| -> Vec<String> {
            oldest_beyond(jobs.iter().collect(), limit)
                .iter()
                .map(|j| j.metadata.name.clone().unwrap())
                .collect()
        };
        assert_eq!(names(3), vec!["n"]);
        assert_eq!(names(1), vec!["n", "a", "b"]);
        assert_eq!(names(4), Vec::<String>::new());
        assert_eq!(names(0).len(), 4);
    }
}
