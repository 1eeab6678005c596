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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
