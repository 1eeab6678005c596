//! Dynamic admission: mutating and validating webhooks (MutatingWebhookConfiguration,
//! ValidatingWebhookConfiguration) and ValidatingAdmissionPolicies with their bindings.
//!
//! The write handlers call [`mutate`] after built-in mutating admission and before the
//! strategy validates, and [`validate`] once the object is prepared, just before it is
//! stored. Both return the warnings that must reach the client. Configurations and
//! policies are read from the watch cache on every request ([`config`]), matched by pure
//! rules ([`matching`]), and webhooks are called over HTTPS ([`call`]).
//!
//! Not yet admitted here: deletecollection, `*/scale` writes (upstream sends a Scale
//! object), MutatingAdmissionPolicy; no policy `status.typeChecking`, no audit annotations.

mod call;
mod config;
mod matching;
mod mutate;
mod policy;
mod review;

use std::time::Duration;

use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult};
use crate::rest::Scope;
use config::{HookKind, Webhook};
pub use matching::Operation;
use matching::{any_rule_matches, namespace_selector_matches, object_selector_matches, Attributes};

/// Upstream's default and ceiling for `timeoutSeconds`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_TIMEOUT_SECONDS: u64 = 30;

/// One request as admission sees it; built once per write and shared by every hook.
pub(crate) struct Request<'a> {
    scope: &'a Scope<'a>,
    operation: Operation,
    subresource: &'a str,
    name: String,
    served_versions: Vec<&'static str>,
    namespace_labels: Option<Map<String, Value>>,
    namespace_object: Value,
}

impl<'a> Request<'a> {
    fn new(scope: &'a Scope<'a>, operation: Operation, subresource: &'a str, name: &str) -> Self {
        let info = scope.info;
        let mut served_versions: Vec<&'static str> = registry::catalog::all()
            .iter()
            .filter(|r| r.group == info.group && r.plural == info.plural)
            .map(|r| r.version)
            .collect();
        if served_versions.is_empty() {
            served_versions.push(info.version);
        }
        let ns = scope.namespace.as_deref().filter(|_| info.namespaced);
        let namespace_object = ns
            .and_then(|ns| scope.api.cache.get(&format!("/registry/namespaces/{ns}")))
            .map(|o| o.value())
            .unwrap_or(Value::Null);
        let namespace_labels = namespace_object
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .cloned();
        Request {
            scope,
            operation,
            subresource,
            name: name.to_string(),
            served_versions,
            namespace_labels,
            namespace_object,
        }
    }

    fn attributes<'b>(
        &'b self,
        object: Option<&'b Value>,
        old: Option<&'b Value>,
    ) -> Attributes<'b> {
        let info = self.scope.info;
        Attributes {
            operation: self.operation,
            group: info.group,
            version: info.version,
            resource: info.plural,
            subresource: self.subresource,
            namespaced: info.namespaced,
            namespace: self.scope.namespace.as_deref().unwrap_or(""),
            name: &self.name,
            object,
            old_object: old,
            served_versions: &self.served_versions,
        }
    }

    fn dry_run(&self) -> bool {
        self.scope.dry_run()
    }

    /// The name the object will have; a create with `generateName` has none yet.
    fn name_of(&self, object: Option<&Value>) -> String {
        object
            .map(|o| crate::objects::name(o).to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| self.name.clone())
    }

    /// `request` of an AdmissionReview; also the `request` variable of CEL expressions.
    fn review_request(&self, uid: &str, object: Option<&Value>, old: Option<&Value>) -> Value {
        review::request(self, uid, object, old)
    }
}

/// Whether `hook` applies: rules, selectors, then its `matchConditions`. An error is a
/// match condition that could not be evaluated.
fn hook_matches(
    req: &Request<'_>,
    hook: &Webhook,
    object: Option<&Value>,
    old: Option<&Value>,
) -> Result<bool, String> {
    let attrs = req.attributes(object, old);
    if !any_rule_matches(&hook.rules, &attrs, hook.match_policy.as_deref())
        || !namespace_selector_matches(
            hook.namespace_selector.as_ref(),
            &attrs,
            req.namespace_labels.as_ref(),
        )
        || !object_selector_matches(hook.object_selector.as_ref(), &attrs)
    {
        return Ok(false);
    }
    if hook.match_conditions.is_empty() {
        return Ok(true);
    }
    let request = req.review_request("", object, old);
    let null = Value::Null;
    // Any condition that is false skips the webhook, even if another one failed; an
    // error only counts when nothing said no.
    let mut error = None;
    for cond in &hook.match_conditions {
        let result = cel::cached(&cond.expression)
            .and_then(|rule| {
                rule.eval(&[
                    ("object", object.unwrap_or(&null)),
                    ("oldObject", old.unwrap_or(&null)),
                    ("request", &request),
                ])
            })
            .map_err(|e| e.to_string());
        match result {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => return Ok(false),
            Ok(other) => {
                error.get_or_insert(format!(
                    "{}: expression returned {other}, want bool",
                    cond.name
                ));
            }
            Err(e) => {
                error.get_or_insert(format!("{}: {e}", cond.name));
            }
        }
    }
    error.map_or(Ok(true), Err)
}

fn timeout_of(hook: &Webhook) -> Duration {
    hook.timeout_seconds
        .map(|s| Duration::from_secs(s.clamp(1, MAX_TIMEOUT_SECONDS)))
        .unwrap_or(DEFAULT_TIMEOUT)
}

/// What one webhook said, once it was called.
struct Reply {
    patch: Option<Value>,
    warnings: Vec<String>,
}

/// Upstream's wording when a webhook cannot be called or answers nonsense: a 500, unless
/// the webhook's failure policy is `Ignore`.
fn failed(hook: &Webhook, why: &str) -> ApiError {
    ApiError::internal(format!("failed calling webhook \"{}\": {why}", hook.name))
}

/// Calls `hook` if it applies. `Ok(None)`: it does not apply, or it failed and its
/// failure policy ignores that.
async fn invoke(
    req: &Request<'_>,
    hook: &Webhook,
    object: Option<&Value>,
    old: Option<&Value>,
) -> ApiResult<Option<Reply>> {
    let applies = match hook_matches(req, hook, object, old) {
        Ok(a) => a,
        Err(why) if hook.ignores_failure() => {
            tracing::warn!(webhook = %hook.name, error = %why, "match condition failed; ignored");
            false
        }
        Err(why) => {
            return Err(failed(
                hook,
                &format!("failed to evaluate match condition {why}"),
            ))
        }
    };
    if !applies {
        return Ok(None);
    }
    if req.dry_run() && !hook.dry_run_safe() {
        return Err(ApiError::bad_request(format!(
            "admission webhook \"{}\" does not support dry run",
            hook.name
        )));
    }
    let uid = uuid::Uuid::new_v4().to_string();
    let review = review::envelope(req.review_request(&uid, object, old));
    let outcome = match call::post(
        req.scope.api,
        &hook.client_config,
        timeout_of(hook),
        &review,
    )
    .await
    {
        Ok(reply) => review::read_response(&hook.name, &uid, &reply),
        Err(e) => Err(format!("failed to call webhook: {e}")),
    };
    match outcome {
        Ok(review::Verdict::Allowed { patch, warnings }) => Ok(Some(Reply { patch, warnings })),
        Ok(review::Verdict::Denied(e)) => Err(e),
        Err(why) if hook.ignores_failure() => {
            tracing::warn!(webhook = %hook.name, error = %why, "webhook failed; ignored by its failure policy");
            Ok(None)
        }
        Err(why) => Err(failed(hook, &why)),
    }
}

/// The resources dynamic admission never sees: its own configuration. (Kinds that are
/// never stored, such as access reviews, do not reach the write handlers at all.)
fn skipped(scope: &Scope<'_>) -> bool {
    matching::exempt(scope.info.group, scope.info.plural)
}

/// Mutating webhooks, in order, on the object about to be created or updated. Returns
/// the webhooks' warnings.
pub async fn mutate(
    scope: &Scope<'_>,
    operation: Operation,
    subresource: &str,
    object: &mut Value,
    old: Option<&Value>,
) -> ApiResult<Vec<String>> {
    if skipped(scope) {
        return Ok(Vec::new());
    }
    let hooks = config::webhooks(scope.api, HookKind::Mutating);
    if hooks.is_empty() {
        return Ok(Vec::new());
    }
    let name = crate::objects::name(object).to_string();
    let req = Request::new(scope, operation, subresource, &name);
    mutate::run(&req, &hooks, object, old).await
}

/// Validating admission of a DELETE: webhooks and policies see the object as stored
/// (`oldObject`), read only when some hook or policy exists.
pub async fn validate_delete(scope: &Scope<'_>, name: &str) -> ApiResult<Vec<String>> {
    if skipped(scope)
        || (config::webhooks(scope.api, HookKind::Validating).is_empty()
            && policy::load(scope.api).is_empty())
    {
        return Ok(Vec::new());
    }
    let (old, _) = crate::rest::current(scope, name).await?;
    validate(scope, Operation::Delete, "", name, None, Some(&old)).await
}

/// Validating webhooks (called in parallel) and ValidatingAdmissionPolicies on the final
/// object (`None` for a delete). Returns the warnings of webhooks and `Warn` bindings.
pub async fn validate(
    scope: &Scope<'_>,
    operation: Operation,
    subresource: &str,
    name: &str,
    object: Option<&Value>,
    old: Option<&Value>,
) -> ApiResult<Vec<String>> {
    if skipped(scope) {
        return Ok(Vec::new());
    }
    let hooks = config::webhooks(scope.api, HookKind::Validating);
    let policies = policy::load(scope.api);
    if hooks.is_empty() && policies.is_empty() {
        return Ok(Vec::new());
    }
    let req = Request::new(scope, operation, subresource, name);
    let mut warnings = policy::run(&req, &policies, object, old)?;
    // Upstream calls validating webhooks in parallel; the first denial in configuration
    // order is the one reported.
    let calls = hooks.iter().map(|h| invoke(&req, h, object, old));
    for result in futures::future::join_all(calls).await {
        if let Some(reply) = result? {
            warnings.extend(reply.warnings);
        }
    }
    Ok(warnings)
}
