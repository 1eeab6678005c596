//! Timestamps in the two shapes the API uses.

use time::format_description::FormatItem;
use time::macros::format_description;
use time::OffsetDateTime;

const SECONDS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
const MICROS: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// `metav1.Time`: whole seconds.
pub fn time(t: OffsetDateTime) -> String {
    t.format(SECONDS).unwrap_or_default()
}

/// `metav1.MicroTime` (Lease renew and acquire times).
pub fn micro_time(t: OffsetDateTime) -> String {
    t.format(MICROS).unwrap_or_default()
}

pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Parses a `metav1.Time` as the API returns it.
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats() {
        let t = datetime!(2026-11-22 03:04:05.123456789 UTC);
        assert_eq!(time(t), "2026-11-22T03:04:05Z");
        assert_eq!(micro_time(t), "2026-11-22T03:04:05.123456Z");
        assert_eq!(
            parse("2026-11-22T03:04:05Z"),
            Some(datetime!(2026-11-22 03:04:05 UTC))
        );
    }
}
