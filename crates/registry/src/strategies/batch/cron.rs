//! Checks a cron schedule the way upstream's parser (robfig/cron, standard 5 fields plus
//! descriptors) does, with its error texts.

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
    names_start: u32,
}

const FIELDS: [Bounds; 5] = [
    Bounds {
        min: 0,
        max: 59,
        names: &[],
        names_start: 0,
    },
    Bounds {
        min: 0,
        max: 23,
        names: &[],
        names_start: 0,
    },
    Bounds {
        min: 1,
        max: 31,
        names: &[],
        names_start: 0,
    },
    Bounds {
        min: 1,
        max: 12,
        names: &MONTHS,
        names_start: 1,
    },
    Bounds {
        min: 0,
        max: 6,
        names: &DAYS,
        names_start: 0,
    },
];

/// `Ok(())` or the parser's error text.
pub(crate) fn parse(schedule: &str) -> Result<(), String> {
    let schedule = schedule.trim();
    if schedule.is_empty() {
        return Err("empty spec string".into());
    }
    if let Some(descriptor) = schedule.strip_prefix('@') {
        return match descriptor {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            d if d.starts_with("every ") => parse_duration(&d["every ".len()..]).map_err(|_| {
                format!(
                    "failed to parse duration {schedule}: time: invalid duration \"{}\"",
                    &d[6..]
                )
            }),
            _ => Err(format!("unrecognized descriptor: {schedule}")),
        };
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (i, (field, bounds)) in fields.iter().zip(&FIELDS).enumerate() {
        // Day-of-month and day-of-week accept `?` as "any".
        if *field == "?" && (i == 2 || i == 4) {
            continue;
        }
        for part in field.split(',') {
            parse_range(part, bounds)?;
        }
    }
    Ok(())
}

fn parse_range(expr: &str, b: &Bounds) -> Result<(), String> {
    let slash: Vec<&str> = expr.split('/').collect();
    let range: Vec<&str> = slash[0].split('-').collect();
    let (start, end) = if range[0] == "*" || range[0] == "?" {
        (b.min, b.max)
    } else {
        let start = parse_value(range[0], b)?;
        let end = match range.len() {
            1 => start,
            2 => parse_value(range[1], b)?,
            _ => return Err(format!("too many hyphens: {expr}")),
        };
        (start, end)
    };
    match slash.len() {
        1 => {}
        2 => {
            let step = must_parse_int(slash[1])?;
            if step == 0 {
                return Err(format!("step of range should be a positive number: {expr}"));
            }
        }
        _ => return Err(format!("too many slashes: {expr}")),
    }
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    Ok(())
}

fn parse_value(s: &str, b: &Bounds) -> Result<u32, String> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(b.names_start + i as u32);
    }
    must_parse_int(s)
}

fn must_parse_int(s: &str) -> Result<u32, String> {
    s.parse::<i64>()
        .map_err(|_| {
            format!("failed to parse int from {s}: strconv.Atoi: parsing {s:?}: invalid syntax")
        })
        .and_then(|n| {
            u32::try_from(n).map_err(|_| format!("negative number ({n}) not allowed: {s}"))
        })
}

/// Go's `time.ParseDuration` shape: `1h30m`, `90s`, `1.5h`.
fn parse_duration(s: &str) -> Result<(), ()> {
    let mut rest = s;
    if rest.is_empty() {
        return Err(());
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or(())?;
        if num_len == 0 {
            return Err(());
        }
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !matches!(
            &rest[..unit_len],
            "ns" | "us" | "µs" | "ms" | "s" | "m" | "h"
        ) {
            return Err(());
        }
        rest = &rest[unit_len..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        for ok in [
            "*/5 * * * *",
            "0 0 1 jan-mar MON-FRI",
            "@hourly",
            "@every 1h30m",
            "0 0 ? * *",
            "1,2,3 4-5/2 * * 0",
        ] {
            assert_eq!(parse(ok), Ok(()), "{ok}");
        }
        let cases = [
            ("x", "expected exactly 5 fields, found 1: [x]"),
            ("@often", "unrecognized descriptor: @often"),
            (
                "x * * * *",
                "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            ("0-70 * * * *", "end of range (70) above maximum (59): 0-70"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            (
                "5-1 * * * *",
                "beginning of range (5) beyond end of range (1): 5-1",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(parse(input), Err(want.to_string()), "{input}");
        }
    }
}
