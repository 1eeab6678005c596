//! Structural schemas of CustomResourceDefinitions: one version's `openAPIV3Schema` parsed
//! into a tree that prunes unknown fields, applies defaults and validates custom resources
//! with upstream's field paths and messages; plus the structural check CRDs must pass.
//!
//! Pure code, like the rest of the crate: CEL rules (`x-kubernetes-validations`) are handed
//! to a [`RuleEvaluator`] the caller supplies, so no CEL engine lives here.

mod defaults;
mod embedded;
mod format;
mod list_type;
mod openapi_validation;
mod parse;
mod prune;
mod rules;
mod structural_check;
mod validate;

#[cfg(test)]
mod tests;

pub use structural_check::check_structural;

use serde_json::Value;

/// One node of a structural schema. Value validations (`allOf`, `anyOf`, `oneOf`, `not`)
/// are nodes of the same shape that only constrain values: pruning and defaulting use the
/// skeleton (`properties`, `items`, `additionalProperties`) of the main tree only.
#[derive(Debug, Clone, Default)]
pub struct Structural {
    /// `type`, or "" when unset.
    pub type_: String,
    pub format: String,
    /// Properties in the order the schema lists them.
    pub properties: Vec<(String, Structural)>,
    pub items: Option<Box<Structural>>,
    pub additional_properties: Option<AdditionalProperties>,
    pub required: Vec<String>,
    pub enum_: Option<Vec<Value>>,
    pub nullable: bool,
    /// `default`; a `null` default counts as none, as upstream treats it.
    pub default: Option<Value>,
    pub pattern: Option<Pattern>,
    pub maximum: Option<f64>,
    pub exclusive_maximum: bool,
    pub minimum: Option<f64>,
    pub exclusive_minimum: bool,
    pub multiple_of: Option<f64>,
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    pub min_properties: Option<u64>,
    pub max_properties: Option<u64>,
    pub all_of: Vec<Structural>,
    pub any_of: Vec<Structural>,
    pub one_of: Vec<Structural>,
    pub not: Option<Box<Structural>>,
    pub preserve_unknown_fields: bool,
    pub int_or_string: bool,
    pub embedded_resource: bool,
    pub list_type: Option<String>,
    pub list_map_keys: Vec<String>,
    pub map_type: Option<String>,
    pub validations: Vec<ValidationRule>,
}

/// `additionalProperties`: a boolean or a schema for every value of a map.
#[derive(Debug, Clone)]
pub enum AdditionalProperties {
    Allows(bool),
    Schema(Box<Structural>),
}

/// A `pattern` with its compiled form; `re` is `None` when the pattern does not compile
/// (the structural check reports that; validation then skips the pattern).
#[derive(Debug, Clone)]
pub struct Pattern {
    pub source: String,
    pub re: Option<regex::Regex>,
}

/// One entry of `x-kubernetes-validations`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationRule {
    pub rule: String,
    pub message: String,
    pub message_expression: String,
    pub reason: String,
    pub field_path: String,
    pub optional_old_self: bool,
}

impl ValidationRule {
    /// Upstream treats a rule that mentions `oldSelf` as a transition rule: it only runs on
    /// update, where an old value exists at the same position.
    pub fn is_transition(&self) -> bool {
        mentions_old_self(&self.rule)
    }
}

/// Whether `oldSelf` occurs as an identifier (not as part of a longer one).
fn mentions_old_self(rule: &str) -> bool {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    rule.match_indices("oldSelf").any(|(i, _)| {
        let before = rule[..i].chars().next_back();
        let after = rule[i + "oldSelf".len()..].chars().next();
        !before.is_some_and(ident) && !after.is_some_and(ident)
    })
}

/// Evaluates one x-kubernetes-validations rule. Implemented elsewhere (a CEL engine); tests use a fake.
pub trait RuleEvaluator {
    /// Ok(true) = rule holds; Ok(false) = violated; Err(text) = could not compile/evaluate
    /// (reported as an Invalid error with the text). `self_value` is the node's value,
    /// `old_self` its previous value on update.
    fn evaluate(
        &self,
        rule: &str,
        self_value: &Value,
        old_self: Option<&Value>,
    ) -> Result<bool, String>;
    /// Evaluates a messageExpression to a string (Err if it fails; upstream then uses
    /// `message` or a default).
    fn message(
        &self,
        expr: &str,
        self_value: &Value,
        old_self: Option<&Value>,
    ) -> Result<String, String>;
}

/// A RuleEvaluator that accepts every rule (no CEL engine).
pub struct NoRules;

impl RuleEvaluator for NoRules {
    fn evaluate(&self, _: &str, _: &Value, _: Option<&Value>) -> Result<bool, String> {
        Ok(true)
    }
    fn message(&self, _: &str, _: &Value, _: Option<&Value>) -> Result<String, String> {
        Err("no CEL engine".into())
    }
}

impl Structural {
    /// Parses one CRD version's `schema.openAPIV3Schema` (serde_json Value). Never panics on
    /// bad input: keywords of the wrong JSON type are ignored (the structural check reports
    /// them when the CRD is written).
    pub fn from_openapi(schema: &Value) -> Structural {
        parse::parse(schema)
    }

    /// The node's `type` ("object", "string", "integer", "number", "boolean", "array", or ""
    /// if unset).
    pub fn type_name(&self) -> &str {
        &self.type_
    }

    /// The node's list semantics (for server-side apply): x-kubernetes-list-type and map keys.
    pub fn list_type(&self) -> Option<(&str, &[String])> {
        self.list_type
            .as_deref()
            .map(|t| (t, self.list_map_keys.as_slice()))
    }

    /// The schema of property `name`, if the node lists it.
    pub fn property(&self, name: &str) -> Option<&Structural> {
        self.properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, s)| s)
    }

    /// The schema of the value at key `name` of an object: its property, else the
    /// `additionalProperties` schema.
    pub fn field(&self, name: &str) -> Option<&Structural> {
        self.property(name).or(match &self.additional_properties {
            Some(AdditionalProperties::Schema(s)) => Some(s),
            _ => None,
        })
    }

    /// The schema node at a JSON path like ".spec.replicas" (used for scale subresource
    /// paths and printer columns' types), if any. `[n]` / `[*]` steps into array items.
    pub fn at_path(&self, path: &str) -> Option<&Structural> {
        let mut node = self;
        for seg in path.split('.').filter(|s| !s.is_empty()) {
            let (name, mut rest) = match seg.find('[') {
                Some(i) => (&seg[..i], &seg[i..]),
                None => (seg, ""),
            };
            if !name.is_empty() {
                node = node.field(name)?;
            }
            while let Some(close) = rest.find(']') {
                node = node.items.as_deref()?;
                rest = &rest[close + 1..];
            }
        }
        Some(node)
    }
}
