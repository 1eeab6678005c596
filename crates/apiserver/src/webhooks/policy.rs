//! ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding: CEL validations run in
//! the apiserver, no webhook involved. A binding selects what its policy applies to and
//! with which parameters, and says what a failed validation does (`Deny`, `Warn`,
//! `Audit`).
//!
//! [`evaluate`] is pure: the caller hands it the parameters already looked up.

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::config::Rule;
use super::matching::{
    any_rule_matches, namespace_selector_matches, object_selector_matches, Attributes,
};
use super::Request;
use crate::error::{ApiError, ApiResult};
use crate::Api;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MatchResources {
    pub namespace_selector: Option<Value>,
    pub object_selector: Option<Value>,
    pub resource_rules: Vec<Rule>,
    pub exclude_resource_rules: Vec<Rule>,
    pub match_policy: Option<String>,
}

impl MatchResources {
    /// An empty `resourceRules` matches everything only in a binding, where it means
    /// "whatever the policy matches".
    fn matches(
        &self,
        attrs: &Attributes<'_>,
        ns_labels: Option<&Map<String, Value>>,
        empty_rules_match: bool,
    ) -> bool {
        let policy = self.match_policy.as_deref();
        let included = if self.resource_rules.is_empty() {
            empty_rules_match
        } else {
            any_rule_matches(&self.resource_rules, attrs, policy)
        };
        included
            && !any_rule_matches(&self.exclude_resource_rules, attrs, policy)
            && namespace_selector_matches(self.namespace_selector.as_ref(), attrs, ns_labels)
            && object_selector_matches(self.object_selector.as_ref(), attrs)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Validation {
    pub expression: String,
    pub message: Option<String>,
    pub message_expression: Option<String>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Variable {
    pub name: String,
    pub expression: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ParamKind {
    pub api_version: String,
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PolicySpec {
    pub param_kind: Option<ParamKind>,
    pub match_constraints: Option<MatchResources>,
    pub validations: Vec<Validation>,
    pub failure_policy: Option<String>,
    pub match_conditions: Vec<super::config::MatchCondition>,
    pub variables: Vec<Variable>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ParamRef {
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub selector: Option<Value>,
    pub parameter_not_found_action: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BindingSpec {
    pub policy_name: String,
    pub param_ref: Option<ParamRef>,
    pub match_resources: Option<MatchResources>,
    pub validation_actions: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Meta {
    name: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Object<S> {
    metadata: Meta,
    spec: S,
}

/// A binding with its policy.
#[derive(Debug, Clone)]
pub struct Bound {
    pub policy_name: String,
    pub policy: PolicySpec,
    pub binding_name: String,
    pub binding: BindingSpec,
}

/// Every binding whose policy exists, in binding name order. Undecodable objects are
/// skipped for the same reason as webhook configurations.
pub fn load(api: &Api) -> Vec<Bound> {
    let (bindings, _) = api
        .cache
        .list("/registry/validatingadmissionpolicybindings/");
    if bindings.is_empty() {
        return Vec::new();
    }
    let (policies, _) = api.cache.list("/registry/validatingadmissionpolicies/");
    let policies: Vec<Object<PolicySpec>> = policies
        .iter()
        .filter_map(|o| serde_json::from_value(o.value()).ok())
        .collect();
    let mut out: Vec<Bound> = bindings
        .iter()
        .filter_map(|o| serde_json::from_value::<Object<BindingSpec>>(o.value()).ok())
        .filter_map(|b| {
            let p = policies
                .iter()
                .find(|p| p.metadata.name == b.spec.policy_name)?;
            Some(Bound {
                policy_name: p.metadata.name.clone(),
                policy: p.spec.clone(),
                binding_name: b.metadata.name,
                binding: b.spec,
            })
        })
        .collect();
    out.sort_by(|a, b| a.binding_name.cmp(&b.binding_name));
    out
}

/// What a binding's actions do with one failed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub policy: String,
    pub binding: String,
    pub message: String,
    /// `Invalid` unless the validation says otherwise.
    pub reason: String,
    pub actions: Vec<String>,
}

/// Variables every expression of one evaluation sees.
pub struct Inputs<'a> {
    pub object: &'a Value,
    pub old_object: &'a Value,
    pub request: &'a Value,
    pub namespace_object: &'a Value,
}

/// Parameters found for a binding: `None` when the policy takes none.
pub type Params = Option<Result<Vec<Value>, String>>;

fn eval(
    expr: &str,
    inputs: &Inputs<'_>,
    params: &Value,
    variables: &Value,
) -> Result<Value, String> {
    let rule = cel::cached(expr).map_err(|e| e.to_string())?;
    rule.eval(&[
        ("object", inputs.object),
        ("oldObject", inputs.old_object),
        ("request", inputs.request),
        ("namespaceObject", inputs.namespace_object),
        ("params", params),
        ("variables", variables),
    ])
    .map_err(|e| e.to_string())
}

/// Evaluates one binding (already matched) against one request: the failed validations,
/// each with the binding's actions. Errors while evaluating count as failures unless the
/// policy's failure policy is `Ignore`.
pub fn evaluate(bound: &Bound, inputs: &Inputs<'_>, params: Params) -> Vec<Failure> {
    let ignore = bound.policy.failure_policy.as_deref() == Some("Ignore");
    let failure = |message: String, reason: &str| Failure {
        policy: bound.policy_name.clone(),
        binding: bound.binding_name.clone(),
        message,
        reason: reason.to_string(),
        actions: bound.binding.validation_actions.clone(),
    };
    let params: Vec<Value> = match params {
        None => vec![Value::Null],
        Some(Ok(found)) if !found.is_empty() => found,
        Some(Ok(_)) => {
            let deny = bound
                .binding
                .param_ref
                .as_ref()
                .and_then(|r| r.parameter_not_found_action.as_deref())
                == Some("Deny");
            if !deny || ignore {
                return Vec::new();
            }
            return vec![failure(
                "failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction".into(),
                "Invalid",
            )];
        }
        Some(Err(e)) if ignore => {
            tracing::warn!(binding = %bound.binding_name, error = %e, "policy params unavailable; ignored");
            return Vec::new();
        }
        Some(Err(e)) => {
            return vec![failure(
                format!("failed to configure binding: {e}"),
                "Invalid",
            )]
        }
    };
    let mut out = Vec::new();
    for p in &params {
        out.extend(evaluate_with(bound, inputs, p, ignore, &failure));
    }
    out
}

fn evaluate_with(
    bound: &Bound,
    inputs: &Inputs<'_>,
    params: &Value,
    ignore: bool,
    failure: &dyn Fn(String, &str) -> Failure,
) -> Vec<Failure> {
    let spec = &bound.policy;
    // Variables are evaluated in order, each seeing those before it. One that fails is
    // left out, so only the expressions that use it fail.
    let mut variables = Map::new();
    for var in &spec.variables {
        if let Ok(v) = eval(
            &var.expression,
            inputs,
            params,
            &Value::Object(variables.clone()),
        ) {
            variables.insert(var.name.clone(), v);
        }
    }
    let variables = Value::Object(variables);
    // As for webhooks: a false condition skips the policy even when another one failed.
    let mut error = None;
    for cond in &spec.match_conditions {
        match eval(&cond.expression, inputs, params, &variables) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => return Vec::new(),
            Ok(other) => {
                error.get_or_insert(format!(
                    "matchCondition '{}' returned {other}, want bool",
                    cond.name
                ));
            }
            Err(e) => {
                error.get_or_insert(format!(
                    "failed to evaluate matchCondition '{}': {e}",
                    cond.name
                ));
            }
        }
    }
    if let Some(e) = error {
        return if ignore {
            Vec::new()
        } else {
            vec![failure(e, "Invalid")]
        };
    }
    let mut out = Vec::new();
    for v in &spec.validations {
        let reason = v.reason.as_deref().unwrap_or("Invalid");
        match eval(&v.expression, inputs, params, &variables) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => {
                out.push(failure(message_of(v, inputs, params, &variables), reason))
            }
            Ok(other) if !ignore => out.push(failure(
                format!(
                    "expression '{}' resulted in error: result is {other}, want bool",
                    v.expression
                ),
                reason,
            )),
            Err(e) if !ignore => out.push(failure(
                format!("expression '{}' resulted in error: {e}", v.expression),
                reason,
            )),
            _ => {}
        }
    }
    out
}

/// `messageExpression` when it yields a non-empty string, else `message`, else the
/// failed expression itself.
fn message_of(v: &Validation, inputs: &Inputs<'_>, params: &Value, variables: &Value) -> String {
    if let Some(expr) = &v.message_expression {
        if let Ok(Value::String(s)) = eval(expr, inputs, params, variables) {
            let s = s.trim();
            if !s.is_empty() {
                return s.to_string();
            }
        }
    }
    match &v.message {
        Some(m) if !m.is_empty() => m.clone(),
        _ => format!("failed expression: {}", v.expression.trim()),
    }
}

/// Upstream maps a validation's reason to the HTTP code of the denial.
fn code_of(reason: &str) -> (u16, &'static str) {
    match reason {
        "Unauthorized" => (401, "Unauthorized"),
        "Forbidden" => (403, "Forbidden"),
        "RequestEntityTooLarge" => (413, "RequestEntityTooLarge"),
        _ => (422, "Invalid"),
    }
}

/// The parameters of `bound` for this request, from the watch cache.
fn params_for(api: &Api, bound: &Bound, request_namespace: &str) -> Params {
    let kind = bound.policy.param_kind.as_ref()?;
    let Some(pref) = bound.binding.param_ref.as_ref() else {
        return Some(Err(
            "paramKind is set but the binding has no paramRef".into()
        ));
    };
    let (group, version) = kind
        .api_version
        .split_once('/')
        .unwrap_or(("", kind.api_version.as_str()));
    let info = registry::catalog::find_by_kind(group, version, &kind.kind).or_else(|| {
        let snap = api.custom.snapshot();
        snap.resources
            .iter()
            .find(|s| {
                s.info.group == group && s.info.version == version && s.info.kind == kind.kind
            })
            .map(|s| s.info)
    });
    let Some(info) = info else {
        return Some(Err(format!(
            "paramKind {} {} is not served",
            kind.api_version, kind.kind
        )));
    };
    let namespace = pref
        .namespace
        .clone()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| request_namespace.to_string());
    let prefix = if info.namespaced {
        format!("/registry/{}/{namespace}/", info.storage_prefix)
    } else {
        format!("/registry/{}/", info.storage_prefix)
    };
    if let Some(name) = pref.name.as_deref().filter(|n| !n.is_empty()) {
        let found = api.cache.get(&format!("{prefix}{name}")).map(|o| o.value());
        return Some(Ok(found.into_iter().collect()));
    }
    let selector = match pref
        .selector
        .as_ref()
        .map(apimachinery::selector::LabelSelector::from_object)
    {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Some(Err(format!("invalid paramRef.selector: {e}"))),
        None => apimachinery::selector::LabelSelector::everything(),
    };
    let (items, _) = api.cache.list(&prefix);
    Some(Ok(items
        .iter()
        .filter(|o| selector.matches(&o.labels))
        .map(|o| o.value())
        .collect()))
}

/// Runs every binding that matches; the warnings of `Warn` actions, or the first denial.
pub(super) fn run(
    req: &Request<'_>,
    bound: &[Bound],
    object: Option<&Value>,
    old: Option<&Value>,
) -> ApiResult<Vec<String>> {
    let attrs = req.attributes(object, old);
    let ns_labels = req.namespace_labels.as_ref();
    let request = req.review_request("", object, old);
    let null = Value::Null;
    let inputs = Inputs {
        object: object.unwrap_or(&null),
        old_object: old.unwrap_or(&null),
        request: &request,
        namespace_object: &req.namespace_object,
    };
    let mut warnings = Vec::new();
    for b in bound {
        let policy_matches = b
            .policy
            .match_constraints
            .as_ref()
            .is_some_and(|m| m.matches(&attrs, ns_labels, false));
        let binding_matches = b
            .binding
            .match_resources
            .as_ref()
            .is_none_or(|m| m.matches(&attrs, ns_labels, true));
        if !policy_matches || !binding_matches {
            continue;
        }
        let params = params_for(req.scope.api, b, attrs.namespace);
        for f in evaluate(b, &inputs, params) {
            let text = format!(
                "ValidatingAdmissionPolicy '{}' with binding '{}' denied request: {}",
                f.policy, f.binding, f.message
            );
            if f.actions.iter().any(|a| a == "Warn") {
                warnings.push(format!(
                    "Validation failed for ValidatingAdmissionPolicy '{}' with binding '{}': {}",
                    f.policy, f.binding, f.message
                ));
            }
            if f.actions.iter().any(|a| a == "Audit") {
                tracing::info!(policy = %f.policy, binding = %f.binding, message = %f.message, "admission policy audit");
            }
            if f.actions.iter().any(|a| a == "Deny") {
                return Err(denied(req, &attrs, &f, text));
            }
        }
    }
    Ok(warnings)
}

/// Upstream words a denial as a Forbidden error, then swaps in the validation's reason
/// and its code.
fn denied(req: &Request<'_>, attrs: &Attributes<'_>, f: &Failure, text: String) -> ApiError {
    let info = req.scope.info;
    let name = req.name_of(attrs.object.or(attrs.old_object));
    let (code, reason) = code_of(&f.reason);
    let mut details = crate::error::details(info.group, info.plural, &name);
    details["causes"] = json!([{ "message": text }]);
    ApiError {
        details: Some(details),
        ..ApiError::new(
            code,
            reason,
            format!(
                "{} \"{name}\" is forbidden: {text}",
                crate::error::qualified(info.group, info.plural)
            ),
        )
    }
}

#[cfg(test)]
mod tests;
