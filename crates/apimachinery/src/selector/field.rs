//! Field selectors (`?fieldSelector=metadata.name=foo,status.phase!=Running`).
//!
//! Which fields a kind supports is the apiserver's business: it walks
//! [`FieldSelector::requirements`] and answers 400 `field label not supported: <field>` for
//! the others, then matches with a lookup of the supported fields.

use std::fmt;

use super::SelectorError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    /// `=` or `==` (upstream makes no difference between them).
    Equals,
    /// `!=`
    NotEquals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    /// Unescaped: `\,`, `\=` and `\\` in the query are `,`, `=` and `\` here.
    pub value: String,
}

/// Terms that must all hold; an empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }

    /// Whether an object matches, given a lookup of its field values. A field the lookup does
    /// not know reads as the empty string, as upstream's `Fields.Get`.
    pub fn matches(&self, lookup: impl Fn(&str) -> Option<String>) -> bool {
        self.requirements.iter().all(|r| {
            let actual = lookup(&r.field).unwrap_or_default();
            match r.operator {
                FieldOperator::Equals => actual == r.value,
                FieldOperator::NotEquals => actual != r.value,
            }
        })
    }

    /// The value the selector pins `field` to with `=`, if any (upstream's
    /// `RequiresExactMatch`), e.g. `metadata.name` for a watch on one object.
    pub fn requires_exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator == FieldOperator::Equals)
            .map(|r| r.value.as_str())
    }
}

/// Upstream's string form, with values escaped again.
impl fmt::Display for FieldSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            let op = match r.operator {
                FieldOperator::Equals => "=",
                FieldOperator::NotEquals => "!=",
            };
            let value = r
                .value
                .replace('\\', "\\\\")
                .replace(',', "\\,")
                .replace('=', "\\=");
            write!(f, "{}{op}{value}", r.field)?;
        }
        Ok(())
    }
}

/// Parses a field selector: terms `field=value`, `field==value`, `field!=value` joined by `,`.
/// A backslash escapes `,`, `=` and `\` in values. Terms are sorted, as upstream sorts them;
/// whitespace is not trimmed (`a=b, c=d` names the field ` c`), as upstream.
pub fn parse_field_selector(s: &str) -> Result<FieldSelector, SelectorError> {
    let mut terms = split_terms(s);
    terms.sort();
    let mut requirements = Vec::new();
    for term in terms {
        if term.is_empty() {
            continue;
        }
        let Some((field, operator, raw)) = split_term(term) else {
            return Err(SelectorError::Field(format!(
                "invalid selector: '{s}'; can't understand '{term}'"
            )));
        };
        let value = unescape(raw)?;
        // Upstream turns a term with neither field nor value into "everything".
        if field.is_empty() && value.is_empty() {
            continue;
        }
        requirements.push(FieldRequirement {
            field: field.to_string(),
            operator,
            value,
        });
    }
    Ok(FieldSelector { requirements })
}

/// Splits on commas that no backslash escapes; escapes stay in the terms.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let mut terms = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms
}

/// The first operator splits the term; the field part knows no escapes.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    for (i, _) in term.char_indices() {
        let rest = &term[i..];
        for (text, op) in [
            ("!=", FieldOperator::NotEquals),
            ("==", FieldOperator::Equals),
            ("=", FieldOperator::Equals),
        ] {
            if let Some(value) = rest.strip_prefix(text) {
                return Some((&term[..i], op, value));
            }
        }
    }
    None
}

fn unescape(raw: &str) -> Result<String, SelectorError> {
    let mut out = String::with_capacity(raw.len());
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            match c {
                '\\' | ',' | '=' => out.push(c),
                other => {
                    return Err(SelectorError::Field(format!(
                        "invalid field selector: invalid escape sequence: \\{other}"
                    )))
                }
            }
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            // Upstream prints the rune with %v, i.e. as its code point.
            ',' | '=' => {
                return Err(SelectorError::Field(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                )))
            }
            other => out.push(other),
        }
    }
    if escaped {
        return Err(SelectorError::Field(
            "invalid field selector: invalid escape sequence: \\".to_string(),
        ));
    }
    Ok(out)
}
