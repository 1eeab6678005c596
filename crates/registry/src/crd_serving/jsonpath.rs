//! The simple JSON paths printer columns and scale subresources use:
//! `.status.replicas`, `.spec.containers[0].image`, `.items[*].name`,
//! `.status.conditions[?(@.type=="Ready")].status`, `.metadata.labels['app.kubernetes.io/name']`.
//! Enough of kubectl's JSONPath for these (no unions, slices or recursive descent).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JsonPathError {
    #[error("unexpected character {0:?} at position {1}")]
    Unexpected(char, usize),
    #[error("unterminated {0} at position {1}")]
    Unterminated(&'static str, usize),
    #[error("path must start with '.'")]
    NoLeadingDot,
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Field(String),
    Index(i64),
    All,
    /// `[?(@.a.b == "x")]`; `None` value: `[?(@.a)]` (the field exists).
    Filter(Vec<String>, Option<Value>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

impl JsonPath {
    /// Parses a path; `{...}` around it is accepted, as kubectl writes templates.
    pub fn parse(text: &str) -> Result<JsonPath, JsonPathError> {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        if !text.starts_with('.') {
            return Err(JsonPathError::NoLeadingDot);
        }
        let chars: Vec<char> = text.chars().collect();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            match chars[i] {
                '.' => {
                    let start = i + 1;
                    i = start;
                    while i < chars.len() && chars[i] != '.' && chars[i] != '[' {
                        i += 1;
                    }
                    let name: String = chars[start..i].iter().collect();
                    if !name.is_empty() {
                        steps.push(Step::Field(name));
                    }
                }
                '[' => {
                    let close = find_close(&chars, i)?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    steps.push(bracket(inner.trim(), i)?);
                    i = close + 1;
                }
                c => return Err(JsonPathError::Unexpected(c, i)),
            }
        }
        Ok(JsonPath { steps })
    }

    /// Every value the path reaches in `root`, in document order.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let mut cur = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in cur {
                match step {
                    Step::Field(name) => next.extend(v.get(name.as_str())),
                    Step::Index(n) => {
                        if let Some(a) = v.as_array() {
                            let idx = if *n < 0 { a.len() as i64 + n } else { *n };
                            next.extend(usize::try_from(idx).ok().and_then(|i| a.get(i)));
                        }
                    }
                    Step::All => match v {
                        Value::Array(a) => next.extend(a.iter()),
                        Value::Object(m) => next.extend(m.values()),
                        _ => {}
                    },
                    Step::Filter(path, want) => {
                        if let Some(a) = v.as_array() {
                            next.extend(a.iter().filter(|item| {
                                let got = path.iter().try_fold(*item, |cur, k| cur.get(k.as_str()));
                                match (got, want) {
                                    (Some(g), Some(w)) => loose_eq(g, w),
                                    (Some(g), None) => !g.is_null(),
                                    (None, _) => false,
                                }
                            }));
                        }
                    }
                }
            }
            cur = next;
        }
        cur
    }

    /// The field names of a plain `.a.b.c` path, or `None` if it has indices or filters.
    pub fn fields(&self) -> Option<Vec<&str>> {
        self.steps
            .iter()
            .map(|s| match s {
                Step::Field(f) => Some(f.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Filter literals compare as kubectl does: `"3"` matches 3.
fn loose_eq(got: &Value, want: &Value) -> bool {
    got == want
        || match (got, want) {
            (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
                n.to_string() == *s
            }
            _ => false,
        }
}

fn find_close(chars: &[char], open: usize) -> Result<usize, JsonPathError> {
    let mut quote: Option<char> = None;
    let mut depth = 0;
    for (j, &c) in chars.iter().enumerate().skip(open) {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') => {
                depth -= 1;
                if depth == 0 {
                    return Ok(j);
                }
            }
            _ => {}
        }
    }
    Err(JsonPathError::Unterminated("'['", open))
}

fn unquote(s: &str) -> Option<&str> {
    s.strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .or_else(|| s.strip_prefix('"').and_then(|t| t.strip_suffix('"')))
}

fn bracket(inner: &str, at: usize) -> Result<Step, JsonPathError> {
    if inner == "*" {
        return Ok(Step::All);
    }
    if let Some(name) = unquote(inner) {
        return Ok(Step::Field(name.to_string()));
    }
    if let Ok(n) = inner.parse::<i64>() {
        return Ok(Step::Index(n));
    }
    let Some(expr) = inner
        .strip_prefix("?(")
        .and_then(|e| e.strip_suffix(')'))
        .map(str::trim)
    else {
        return Err(JsonPathError::Unexpected(
            inner.chars().next().unwrap_or(']'),
            at + 1,
        ));
    };
    let (lhs, rhs) = match expr.split_once("==") {
        Some((l, r)) => (l.trim(), Some(r.trim())),
        None => (expr, None),
    };
    let Some(path) = lhs.strip_prefix("@.") else {
        return Err(JsonPathError::Unexpected(
            lhs.chars().next().unwrap_or(')'),
            at + 3,
        ));
    };
    let path: Vec<String> = path.split('.').map(str::to_string).collect();
    let want = rhs.map(|r| match unquote(r) {
        Some(s) => Value::String(s.to_string()),
        None => serde_json::from_str(r).unwrap_or_else(|_| Value::String(r.to_string())),
    });
    Ok(Step::Filter(path, want))
}
