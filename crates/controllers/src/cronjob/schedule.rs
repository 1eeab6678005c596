//! Cron schedules as CronJobs write them (the standard 5 fields and the `@` macros, read
//! the way upstream's parser reads them) and the next activation time in a time zone.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

/// Set on a day field written `*` or `?`: upstream then requires both day fields to match
/// instead of either.
const STAR: u64 = 1 << 63;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// A parsed schedule: one bit per allowed value of each field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
}

struct Field {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    first_name: u32,
}

const FIELDS: [Field; 5] = [
    Field {
        min: 0,
        max: 59,
        names: &[],
        first_name: 0,
    },
    Field {
        min: 0,
        max: 23,
        names: &[],
        first_name: 0,
    },
    Field {
        min: 1,
        max: 31,
        names: &[],
        first_name: 0,
    },
    Field {
        min: 1,
        max: 12,
        names: &MONTHS,
        first_name: 1,
    },
    Field {
        min: 0,
        max: 6,
        names: &DAYS,
        first_name: 0,
    },
];

impl Schedule {
    /// Parses a schedule; the error is the text an event shows.
    pub fn parse(spec: &str) -> Result<Schedule, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("empty spec string".into());
        }
        // Upstream validation refuses an embedded zone: spec.timeZone says it instead.
        if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
            return Err("cannot use TZ or CRON_TZ in schedule, use timeZone field instead".into());
        }
        if let Some(name) = spec.strip_prefix('@') {
            let fields = match name {
                "yearly" | "annually" => "0 0 1 1 *",
                "monthly" => "0 0 1 * *",
                "weekly" => "0 0 * * 0",
                "daily" | "midnight" => "0 0 * * *",
                "hourly" => "0 * * * *",
                _ => return Err(format!("unrecognized descriptor: {spec}")),
            };
            return Schedule::parse(fields);
        }
        let parts: Vec<&str> = spec.split_whitespace().collect();
        if parts.len() != 5 {
            return Err(format!(
                "expected exactly 5 fields, found {}: {spec}",
                parts.len()
            ));
        }
        let mut bits = [0u64; 5];
        for (i, (part, field)) in parts.iter().zip(FIELDS.iter()).enumerate() {
            for item in part.split(',') {
                bits[i] |= parse_range(item, field)?;
            }
        }
        Ok(Schedule {
            minute: bits[0],
            hour: bits[1],
            dom: bits[2],
            month: bits[3],
            dow: bits[4],
        })
    }

    fn day_matches(&self, d: Date) -> bool {
        let dom = self.dom & (1 << d.day()) != 0;
        let dow = self.dow & (1 << d.weekday().to_sunday_zero_offset()) != 0;
        if self.dom & STAR != 0 || self.dow & STAR != 0 {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The first activation strictly after `after`, in `tz`; `None` if there is none within
    /// five years (e.g. `0 0 30 2 *`).
    ///
    /// Fields are matched on the zone's wall clock. A wall time skipped by a DST jump runs
    /// at the same offset past the jump (02:30 becomes 03:30), and a repeated wall time runs
    /// once, at its first occurrence.
    pub fn next(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let start = tz.to_datetime(after);
        let mut t = start.with().second(0).subsec_nanosecond(0).build().ok()?;
        t = t.checked_add(1.minute()).ok()?;
        let limit = start.year() + 5;
        while t.year() <= limit {
            if self.month & (1 << t.month()) == 0 {
                t = first_of_next_month(t)?;
                continue;
            }
            if !self.day_matches(t.date()) {
                t = t
                    .date()
                    .tomorrow()
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight());
                continue;
            }
            if self.hour & (1 << t.hour()) == 0 {
                t = t
                    .with()
                    .minute(0)
                    .build()
                    .ok()?
                    .checked_add(1.hour())
                    .ok()?;
                continue;
            }
            if self.minute & (1 << t.minute()) == 0 {
                t = t.checked_add(1.minute()).ok()?;
                continue;
            }
            if let Some(ts) = resolve(tz, t).filter(|ts| *ts > after) {
                return Some(ts);
            }
            t = t.checked_add(1.minute()).ok()?;
        }
        None
    }
}

fn first_of_next_month(t: DateTime) -> Option<DateTime> {
    let first = t.date().first_of_month().checked_add(1.month()).ok()?;
    Some(first.to_datetime(jiff::civil::Time::midnight()))
}

/// The instant of a wall-clock time: a skipped one moves forward by the jump, a repeated
/// one takes its earlier instant (jiff's "compatible" rule).
fn resolve(tz: &TimeZone, t: DateTime) -> Option<Timestamp> {
    tz.to_ambiguous_timestamp(t).compatible().ok()
}

/// One list item: `*`, `?`, `N`, `N-M`, each optionally `/STEP`, or a name.
fn parse_range(item: &str, f: &Field) -> Result<u64, String> {
    let (range, step) = match item.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (item, None),
    };
    let mut extra = 0;
    let (start, mut end) = if range == "*" || range == "?" {
        extra = STAR;
        (f.min, f.max)
    } else {
        match range.split_once('-') {
            Some((a, b)) => (value(a, f)?, value(b, f)?),
            None => {
                let v = value(range, f)?;
                (v, v)
            }
        }
    };
    let step = match step {
        None => 1,
        Some(s) => {
            let n = number(s)?;
            // `N/STEP` means from N to the field's end.
            if !range.contains('-') && extra == 0 {
                end = f.max;
            }
            if n > 1 {
                extra = 0;
            }
            n
        }
    };
    if start < f.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {item}",
            f.min
        ));
    }
    if end > f.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {item}",
            f.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {item}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {item}"));
    }
    let mut bits = extra;
    let mut v = start;
    while v <= end {
        bits |= 1 << v;
        v += step;
    }
    Ok(bits)
}

fn value(s: &str, f: &Field) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = f.names.iter().position(|n| *n == lower) {
        return Ok(f.first_name + i as u32);
    }
    number(s)
}

fn number(s: &str) -> Result<u32, String> {
    s.parse::<u32>()
        .map_err(|_| format!("failed to parse int from {s}: invalid syntax"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn next_times() {
        // (schedule, zone, after, expected next activations)
        let cases: &[(&str, &str, &str, &[&str])] = &[
            (
                "*/1 * * * *",
                "UTC",
                "2024-01-01T00:00:30Z",
                &["2024-01-01T00:01:00Z", "2024-01-01T00:02:00Z"],
            ),
            (
                "*/15 9-10 * * mon-fri",
                "UTC",
                "2024-01-05T10:50:00Z", // a Friday
                &["2024-01-08T09:00:00Z", "2024-01-08T09:15:00Z"],
            ),
            (
                "0 0 1,15 * *",
                "UTC",
                "2024-02-01T00:00:00Z",
                &["2024-02-15T00:00:00Z", "2024-03-01T00:00:00Z"],
            ),
            (
                "30 4 ? jan,Jul *",
                "UTC",
                "2024-01-31T05:00:00Z",
                &["2024-07-01T04:30:00Z", "2024-07-02T04:30:00Z"],
            ),
            // Both day fields restricted: either may match.
            (
                "0 12 13 * fri",
                "UTC",
                "2024-09-10T00:00:00Z",
                &["2024-09-13T12:00:00Z", "2024-09-20T12:00:00Z"],
            ),
            (
                "0 0 29 2 *",
                "UTC",
                "2024-03-01T00:00:00Z",
                &["2028-02-29T00:00:00Z"],
            ),
            ("0 0 30 2 *", "UTC", "2024-03-01T00:00:00Z", &[]),
            (
                "@hourly",
                "UTC",
                "2024-01-01T00:00:00Z",
                &["2024-01-01T01:00:00Z"],
            ),
            (
                "@daily",
                "UTC",
                "2024-01-01T00:00:00Z",
                &["2024-01-02T00:00:00Z"],
            ),
            (
                "@midnight",
                "UTC",
                "2024-01-01T23:59:59Z",
                &["2024-01-02T00:00:00Z"],
            ),
            (
                "@weekly",
                "UTC",
                "2024-01-01T00:00:00Z",
                &["2024-01-07T00:00:00Z"],
            ),
            (
                "@monthly",
                "UTC",
                "2024-01-15T00:00:00Z",
                &["2024-02-01T00:00:00Z"],
            ),
            (
                "@yearly",
                "UTC",
                "2024-01-15T00:00:00Z",
                &["2025-01-01T00:00:00Z"],
            ),
            (
                "@annually",
                "UTC",
                "2024-01-15T00:00:00Z",
                &["2025-01-01T00:00:00Z"],
            ),
            (
                "5/20 * * * *",
                "UTC",
                "2024-01-01T00:00:00Z",
                &[
                    "2024-01-01T00:05:00Z",
                    "2024-01-01T00:25:00Z",
                    "2024-01-01T00:45:00Z",
                    "2024-01-01T01:05:00Z",
                ],
            ),
            // A zone's wall clock: 09:00 in Tokyo is 00:00 UTC.
            (
                "0 9 * * *",
                "Asia/Tokyo",
                "2024-01-01T00:00:00Z",
                &["2024-01-02T00:00:00Z"],
            ),
            // New York springs forward on 2024-03-10 at 02:00 -> 03:00: 02:30 does not exist
            // and runs at 03:30 EDT (07:30Z).
            (
                "30 2 * * *",
                "America/New_York",
                "2024-03-09T12:00:00Z",
                &["2024-03-10T07:30:00Z", "2024-03-11T06:30:00Z"],
            ),
            // Falls back on 2024-11-03 at 02:00 -> 01:00: 01:30 happens twice and runs once.
            (
                "30 1 * * *",
                "America/New_York",
                "2024-11-02T12:00:00Z",
                &["2024-11-03T05:30:00Z", "2024-11-04T06:30:00Z"],
            ),
            // Hourly across the fall-back: the repeated hour's wall times are already used.
            (
                "0 * * * *",
                "Europe/Berlin",
                "2024-10-27T00:30:00Z", // 02:30 CEST
                &["2024-10-27T02:00:00Z", "2024-10-27T03:00:00Z"],
            ),
        ];
        for (spec, zone, after, want) in cases {
            let s = Schedule::parse(spec).unwrap_or_else(|e| panic!("{spec}: {e}"));
            let tz = TimeZone::get(zone).unwrap();
            let mut t = ts(after);
            let mut got = Vec::new();
            for _ in 0..want.len().max(1) {
                match s.next(t, &tz) {
                    Some(n) => {
                        got.push(n.to_string());
                        t = n;
                    }
                    None => break,
                }
            }
            got.truncate(want.len());
            assert_eq!(got, *want, "{spec} in {zone} after {after}");
        }
    }

    #[test]
    fn invalid_specs() {
        let cases = [
            ("", "empty spec string"),
            ("* * * *", "expected exactly 5 fields, found 4: * * * *"),
            (
                "* * * * * *",
                "expected exactly 5 fields, found 6: * * * * * *",
            ),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            ("* * * * 7", "end of range (7) above maximum (6): 7"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("x * * * *", "failed to parse int from x: invalid syntax"),
            (
                "* * * foo *",
                "failed to parse int from foo: invalid syntax",
            ),
            ("@every 5m", "unrecognized descriptor: @every 5m"),
            (
                "TZ=UTC 0 * * * *",
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ),
            (
                "CRON_TZ=Europe/Paris 0 * * * *",
                "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(
                Schedule::parse(spec).err().as_deref(),
                Some(want),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn star_and_question_mark_are_alike() {
        assert_eq!(
            Schedule::parse("0 0 ? * ?").unwrap(),
            Schedule::parse("0 0 * * *").unwrap()
        );
        assert_eq!(
            Schedule::parse("0 0 * JAN-mar SUN").unwrap(),
            Schedule::parse("0 0 * 1-3 0").unwrap()
        );
    }
}
