//! Durations as Go prints and parses them in flags and annotations.

use std::time::Duration;

/// Go-style durations made of whole numbers with units: `500ms`, `5s`, `2m`, `1h30m`.
pub fn parse(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let one = match &rest[..unit_len] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return None,
        };
        total += one * u32::try_from(n).ok()?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let cases = [
            ("500ms", Some(Duration::from_millis(500))),
            ("5s", Some(Duration::from_secs(5))),
            ("1h30m", Some(Duration::from_secs(5400))),
            ("", None),
            ("5", None),
            ("5x", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), want, "{input}");
        }
    }
}
