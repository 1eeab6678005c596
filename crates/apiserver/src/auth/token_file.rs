//! `--token-auth-file`: upstream's static token file, a CSV of
//! `token,user,uid,"group1,group2"` read once at start-up.

use std::collections::HashMap;

use super::UserInfo;

#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("line {line}: {why}")]
    Line { line: usize, why: &'static str },
}

/// Token → user. Blank lines and `#` comments are skipped; a token seen twice keeps the
/// first line, as upstream does.
pub fn parse(text: &str) -> Result<HashMap<String, UserInfo>, TokenFileError> {
    let mut tokens = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = split_csv(line).ok_or(TokenFileError::Line {
            line: i + 1,
            why: "unterminated quote",
        })?;
        if fields.len() < 3 {
            return Err(TokenFileError::Line {
                line: i + 1,
                why: "want at least token,user,uid",
            });
        }
        if fields[0].is_empty() || fields[1].is_empty() {
            return Err(TokenFileError::Line {
                line: i + 1,
                why: "empty token or user",
            });
        }
        let mut groups: Vec<String> = fields
            .get(3)
            .map(|g| {
                g.split(',')
                    .map(str::trim)
                    .filter(|g| !g.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        groups.push("system:authenticated".into());
        tokens.entry(fields[0].clone()).or_insert(UserInfo {
            name: fields[1].clone(),
            uid: fields[2].clone(),
            groups,
            ..UserInfo::default()
        });
    }
    Ok(tokens)
}

/// One CSV record: fields separated by commas, `"..."` quoting with `""` for a quote.
fn split_csv(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    fn check(text: &str, want: Expect) {
        let got = match parse(text) {
            Ok(tokens) => {
                let mut rows: Vec<String> = tokens
                    .iter()
                    .map(|(t, u)| format!("{t} => {} uid={} groups={:?}", u.name, u.uid, u.groups))
                    .collect();
                rows.sort();
                rows.join("\n")
            }
            Err(e) => format!("error: {e}"),
        };
        want.assert_eq(&got);
    }

    #[test]
    fn token_files() {
        check(
            "# static users\nt1,alice,u1,\"dev,ops\"\n\nt2,bob,u2\nt1,mallory,u3\n",
            expect![[r#"
                t1 => alice uid=u1 groups=["dev", "ops", "system:authenticated"]
                t2 => bob uid=u2 groups=["system:authenticated"]"#]],
        );
        check(
            "t1,alice\n",
            expect!["error: line 1: want at least token,user,uid"],
        );
        check(
            "t1,alice,u1,\"dev\n",
            expect!["error: line 1: unterminated quote"],
        );
    }
}
