//! Data-driven tests: schema and object in, pruned object / defaulted object / error
//! messages (as kubectl prints them) out. `UPDATE_EXPECT=1` rewrites the expectations.

mod defaulting;
mod formats;
mod pruning;
mod realistic;
mod schema_tree;
mod structural_check;
mod validation;

use super::*;
use expect_test::Expect;
use serde_json::{json, Value};

/// A CEL stand-in: rules are keywords, so tests read as data.
pub(super) struct FakeCel;

impl RuleEvaluator for FakeCel {
    fn evaluate(&self, rule: &str, v: &Value, old: Option<&Value>) -> Result<bool, String> {
        match rule.trim() {
            "ok" => Ok(true),
            "fail" => Ok(false),
            "self == oldSelf" => Ok(old == Some(v)),
            "!has(oldSelf) || self == oldSelf" => Ok(old.is_none_or(|o| o == v)),
            "self.startsWith('a')" => Ok(v.as_str().is_some_and(|s| s.starts_with('a'))),
            "self.x > 0" => Ok(v["x"].as_i64().is_some_and(|x| x > 0)),
            other => Err(format!(
                "compilation failed: undeclared reference in {other:?}"
            )),
        }
    }
    fn message(&self, expr: &str, v: &Value, _: Option<&Value>) -> Result<String, String> {
        match expr {
            "'got ' + self" => Ok(format!("got {}", v.as_str().unwrap_or("?"))),
            "''" => Ok(String::new()),
            _ => Err("no such overload".into()),
        }
    }
}

/// One line per case: the label, then the errors' messages joined with " | ".
pub(super) fn render_errors(cases: &[(&str, Value, Value)], old: Option<&Value>) -> String {
    let mut out = String::new();
    for (label, schema, obj) in cases {
        let s = Structural::from_openapi(schema);
        let errs = s.validate(obj, old, &FakeCel);
        let msgs: Vec<String> = errs.iter().map(|e| e.message()).collect();
        let text = if msgs.is_empty() {
            "ok".to_string()
        } else {
            msgs.join(" | ")
        };
        out.push_str(&format!("{label}: {text}\n"));
    }
    out
}

pub(super) fn check_errors(cases: &[(&str, Value, Value)], expect: Expect) {
    expect.assert_eq(&render_errors(cases, None));
}

/// A root schema with `spec` of the given schema.
pub(super) fn spec(s: Value) -> Value {
    json!({"type": "object", "properties": {"spec": s}})
}

/// A root schema whose `spec.f` has the given schema.
pub(super) fn field(s: Value) -> Value {
    spec(json!({"type": "object", "properties": {"f": s}}))
}

pub(super) fn obj_f(v: Value) -> Value {
    json!({"spec": {"f": v}})
}
