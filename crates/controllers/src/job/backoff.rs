//! The delay before replacing failed pods: 10 s after the first failure since the last
//! success, doubling with each further failure, capped (upstream's
//! `DefaultJobPodFailureBackOff` and `MaxJobPodFailureBackOff`).

use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Pod;

pub const BASE: Duration = Duration::from_secs(10);
pub const MAX: Duration = Duration::from_secs(600);

/// The wait after the most recent of `failures` consecutive failures.
pub fn delay(failures: u32) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let doublings = (failures - 1).min(16);
    BASE.saturating_mul(1 << doublings).min(MAX)
}

/// Failures since the last success and when the latest of them happened.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Record {
    pub failures: u32,
    pub last_failure: Option<Timestamp>,
}

/// Builds the record from finished pods: `(finished at, succeeded)`.
pub fn record(finished: impl IntoIterator<Item = (Timestamp, bool)>) -> Record {
    let mut all: Vec<(Timestamp, bool)> = finished.into_iter().collect();
    all.sort();
    let after_success = all
        .iter()
        .rposition(|(_, ok)| *ok)
        .map_or(&all[..], |i| &all[i + 1..]);
    Record {
        failures: u32::try_from(after_success.len()).unwrap_or(u32::MAX),
        last_failure: after_success.last().map(|(t, _)| *t),
    }
}

/// How long new pods must still wait; zero when they may be created now.
pub fn remaining(rec: &Record, now: Timestamp) -> Duration {
    let Some(last) = rec.last_failure else {
        return Duration::ZERO;
    };
    let elapsed = now.duration_since(last);
    let wait = delay(rec.failures);
    match Duration::try_from(elapsed) {
        Ok(e) => wait.saturating_sub(e),
        // The failure lies in the future (clock skew): wait the full delay.
        Err(_) => wait,
    }
}

/// When a terminal pod finished: its containers' latest exit, else its last condition
/// change, else its creation.
pub fn finish_time(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref();
    let exits = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    exits
        .or_else(|| {
            status
                .and_then(|s| s.conditions.as_ref())
                .into_iter()
                .flatten()
                .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
                .max()
        })
        .or_else(|| crate::podinfo::created(pod))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn delays() {
        let cases = [
            (0, 0),
            (1, 10),
            (2, 20),
            (3, 40),
            (4, 80),
            (6, 320),
            (7, 600),
            (30, 600),
        ];
        for (failures, secs) in cases {
            assert_eq!(delay(failures), Duration::from_secs(secs), "{failures}");
        }
    }

    type Case<'a> = (&'a [(i64, bool)], i64, u32, u64);

    #[test]
    fn records_and_remaining() {
        let t0 = ts("2024-01-01T00:00:00Z");
        let at = |s: i64| t0 + jiff::SignedDuration::from_secs(s);
        // (finished pods, now offset, failures, remaining seconds)
        let cases: &[Case] = &[
            (&[], 0, 0, 0),
            (&[(0, false)], 3, 1, 7),
            (&[(0, false)], 12, 1, 0),
            (&[(0, false), (5, false)], 10, 2, 15),
            (&[(0, false), (5, true)], 6, 0, 0),
            (&[(0, false), (5, true), (8, false)], 9, 1, 9),
            (&[(0, false), (1, false), (2, false)], 2, 3, 40),
        ];
        for (pods, now, failures, left) in cases {
            let rec = record(pods.iter().map(|(s, ok)| (at(*s), *ok)));
            assert_eq!(rec.failures, *failures, "{pods:?}");
            assert_eq!(
                remaining(&rec, at(*now)),
                Duration::from_secs(*left),
                "{pods:?} at {now}"
            );
        }
    }
}
