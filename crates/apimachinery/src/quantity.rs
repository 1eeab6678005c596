//! Enough of upstream's `resource.Quantity` to compare two quantities.

use serde_json::Value;

/// The numeric value of a quantity (`500m`, `1Gi`, `2e3`, `1.5`), or `None` if malformed.
pub fn parse(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => parse_str(s),
        _ => None,
    }
}

pub fn parse_str(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let base: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    Some(base * mult)
}

/// Upstream's canonical string for an amount in thousandths (`1500m`, `2`, `3k`, `64Mi`):
/// the largest suffix that keeps the number whole, in powers of two when `binary` and the
/// amount is whole bytes, else in powers of ten.
pub fn canonical_milli(milli: i128, binary: bool) -> String {
    if milli == 0 {
        return "0".into();
    }
    let sign = if milli < 0 { "-" } else { "" };
    let abs = milli.unsigned_abs();
    if binary && abs.is_multiple_of(1000) {
        const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
        let (mut v, mut i) = (abs / 1000, 0);
        while v.is_multiple_of(1024) && i < SUFFIXES.len() - 1 {
            v /= 1024;
            i += 1;
        }
        return format!("{sign}{v}{}", SUFFIXES[i]);
    }
    const SUFFIXES: [&str; 8] = ["m", "", "k", "M", "G", "T", "P", "E"];
    let (mut v, mut i) = (abs, 0);
    while v.is_multiple_of(1000) && i < SUFFIXES.len() - 1 {
        v /= 1000;
        i += 1;
    }
    format!("{sign}{v}{}", SUFFIXES[i])
}

/// The quantity in thousandths, exactly (no floating point, so `0.7` is 700 and `0.7`
/// plus `0.2` is 900), rounded up as upstream rounds to milli precision; `None` if
/// malformed or too large.
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (negative, num) = match num.as_bytes().first() {
        Some(b'-') => (true, &num[1..]),
        Some(b'+') => (false, &num[1..]),
        _ => (false, num),
    };
    let (whole, frac) = num.split_once('.').unwrap_or((num, ""));
    let digits = format!("{whole}{frac}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mantissa: i128 = digits.parse().ok()?;
    let scale = i32::try_from(frac.len()).ok()?;
    // value = mantissa * 10^pow10 * 1024^pow1024 / 10^scale units; in thousandths, * 1000.
    let (pow10, pow1024): (i32, u32) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 1),
        "Mi" => (0, 2),
        "Gi" => (0, 3),
        "Ti" => (0, 4),
        "Pi" => (0, 5),
        "Ei" => (0, 6),
        exp if exp.starts_with(['e', 'E']) => (exp[1..].parse().ok()?, 0),
        _ => return None,
    };
    let numerator = mantissa.checked_mul(1024i128.checked_pow(pow1024)?)?;
    let p = pow10.checked_add(3)?.checked_sub(scale)?;
    let milli = if p >= 0 {
        numerator.checked_mul(10i128.checked_pow(u32::try_from(p).ok()?)?)?
    } else {
        let divisor = 10i128.checked_pow(u32::try_from(-p).ok()?)?;
        numerator.checked_add(divisor - 1)? / divisor
    };
    Some(if negative { -milli } else { milli })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_milli_exactly() {
        for (input, want) in [
            ("0.7", Some(700)),
            ("0.2", Some(200)),
            ("1.5Gi", Some(1536 * 1024 * 1024 * 1000)),
            ("2e3", Some(2_000_000)),
            ("1n", Some(1)),
            ("-250m", Some(-250)),
            ("", None),
            ("1Q", None),
            (".", None),
        ] {
            assert_eq!(parse_milli(input), want, "{input:?}");
        }
    }

    #[test]
    fn parses_suffixes() {
        for (input, want) in [
            ("500m", 0.5),
            ("1Gi", 1073741824.0),
            ("2e3", 2000.0),
            ("1.5", 1.5),
            ("128974848", 128974848.0),
            ("129M", 129e6),
        ] {
            assert_eq!(parse(&json!(input)), Some(want), "{input}");
        }
        assert_eq!(parse(&json!("12x")), None);
    }
}
