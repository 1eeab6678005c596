//! Validation of a whole custom resource: the passes upstream runs one after the other
//! (OpenAPI schema, embedded resources, list types, CEL rules), and what carries over from
//! one to the next.

use super::openapi_validation::check_node;
use super::{embedded, list_type, rules, AdditionalProperties, Structural};
use apimachinery::field::{ErrorType, FieldError, FieldErrors, Path};
use serde_json::Value;

/// The field upstream prints for errors at the root of the object (a nil field path).
pub(super) const ROOT_FIELD: &str = "<nil>";

impl Structural {
    /// Validates an object (whole custom resource, root = the object) against the schema
    /// with upstream's field paths, error types and detail messages. `old` is the previous
    /// object on update (for x-kubernetes-validations with oldSelf, and ratcheting). CEL
    /// rules are evaluated through `cel`.
    ///
    /// Like upstream, the passes run one after the other: OpenAPI schema, embedded
    /// resources' type meta, list-type set/map uniqueness, then CEL rules. On update,
    /// upstream ratchets: errors in values equal to their old values are dropped, and
    /// duplicate list items are only reported when the old object had none.
    pub fn validate(
        &self,
        obj: &Value,
        old: Option<&Value>,
        cel: &dyn super::RuleEvaluator,
    ) -> FieldErrors {
        let root = Path::new("");
        let mut out = Vec::new();
        check_node(self, obj, old, "", &mut out);
        embedded::check(self, obj, &root, &mut out);
        let mut lists = Vec::new();
        list_type::check(self, obj, &root, &mut lists);
        if let (false, Some(old)) = (lists.is_empty(), old) {
            let mut old_lists = Vec::new();
            list_type::check(self, old, &root, &mut old_lists);
            if !old_lists.is_empty() {
                lists.clear();
            }
        }
        out.extend(lists);
        if has_rules(self) {
            if out.iter().any(blocks_rules) {
                out.push(FieldError {
                    kind: ErrorType::Invalid,
                    field: ROOT_FIELD.to_string(),
                    // Upstream's nil value prints as the quoted string "null".
                    bad_value: Some(Value::from("null")),
                    detail: "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
                });
            } else {
                let walk = rules::Walk {
                    cel,
                    parent_unchanged: false,
                };
                rules::check(self, obj, old, &root, walk, &mut out);
            }
        }
        out
    }
}

/// Upstream does not run CEL rules on an object with a missing, mistyped, unsupported or
/// oversized value: the rules may assume the shape the schema promises.
fn blocks_rules(e: &FieldError) -> bool {
    matches!(
        e.kind,
        ErrorType::NotSupported
            | ErrorType::Required
            | ErrorType::TooLong
            | ErrorType::TooMany
            | ErrorType::TypeInvalid
    )
}

fn has_rules(s: &Structural) -> bool {
    !s.validations.is_empty()
        || s.properties.iter().any(|(_, p)| has_rules(p))
        || s.items.as_deref().is_some_and(has_rules)
        || matches!(&s.additional_properties, Some(AdditionalProperties::Schema(a)) if has_rules(a))
}

/// The field of an error at `path` (upstream's nil path prints as `<nil>`).
pub(super) fn field(path: &str) -> String {
    if path.is_empty() {
        ROOT_FIELD.to_string()
    } else {
        path.to_string()
    }
}

/// The path of the value at key `k`: a property is a child, a map key a `[k]`.
pub(super) fn child_path(s: &Structural, path: &Path, k: &str) -> Path {
    match s.property(k) {
        Some(_) => path.child(k),
        None => path.key(k),
    }
}
