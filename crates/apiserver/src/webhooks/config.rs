//! Mutating and validating webhook configurations as admission reads them: from the watch
//! cache, like upstream's informer, so a configuration written a moment ago may not apply
//! to the very next request.

use serde::Deserialize;
use serde_json::Value;

use crate::Api;

/// One `rules[]` entry (`RuleWithOperations`), also a policy's `resourceRules[]` entry
/// (`NamedRuleWithOperations`, which adds `resourceNames`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Rule {
    pub operations: Vec<String>,
    pub api_groups: Vec<String>,
    pub api_versions: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub scope: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    pub path: Option<String>,
    pub port: Option<u16>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ClientConfig {
    pub url: Option<String>,
    pub service: Option<ServiceRef>,
    /// Base64 of PEM certificates, as the API carries `[]byte`.
    pub ca_bundle: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MatchCondition {
    pub name: String,
    pub expression: String,
}

/// One webhook of a configuration; the fields both kinds share, plus the mutating one's
/// `reinvocationPolicy`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Webhook {
    pub name: String,
    pub client_config: ClientConfig,
    pub rules: Vec<Rule>,
    pub failure_policy: Option<String>,
    pub match_policy: Option<String>,
    pub namespace_selector: Option<Value>,
    pub object_selector: Option<Value>,
    pub side_effects: Option<String>,
    pub timeout_seconds: Option<u64>,
    pub reinvocation_policy: Option<String>,
    pub match_conditions: Vec<MatchCondition>,
}

impl Webhook {
    /// `Fail` unless set to `Ignore` (the v1 default).
    pub fn ignores_failure(&self) -> bool {
        self.failure_policy.as_deref() == Some("Ignore")
    }

    /// Webhooks declaring side effects cannot be called for a dry run, since they could
    /// not tell it from a real request.
    pub fn dry_run_safe(&self) -> bool {
        matches!(self.side_effects.as_deref(), Some("None" | "NoneOnDryRun"))
    }

    pub fn reinvoke_if_needed(&self) -> bool {
        self.reinvocation_policy.as_deref() == Some("IfNeeded")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookKind {
    Mutating,
    Validating,
}

impl HookKind {
    fn prefix(self) -> &'static str {
        match self {
            HookKind::Mutating => "/registry/mutatingwebhookconfigurations/",
            HookKind::Validating => "/registry/validatingwebhookconfigurations/",
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Configuration {
    webhooks: Vec<Webhook>,
}

/// Every webhook of `kind`, configurations in name order (upstream's order), webhooks in
/// the order their configuration lists them. A configuration that does not decode is
/// skipped: validation on write keeps such objects out, and one bad object must not stop
/// every write in the cluster.
pub fn webhooks(api: &Api, kind: HookKind) -> Vec<Webhook> {
    let (items, _) = api.cache.list(kind.prefix());
    let mut configs: Vec<(String, Configuration)> = items
        .iter()
        .filter_map(|o| {
            let v = o.value();
            let name = crate::objects::name(&v).to_string();
            match serde_json::from_value::<Configuration>(v) {
                Ok(c) => Some((name, c)),
                Err(e) => {
                    tracing::warn!(config = %name, error = %e, "skipping undecodable webhook configuration");
                    None
                }
            }
        })
        .collect();
    configs.sort_by(|a, b| a.0.cmp(&b.0));
    configs.into_iter().flat_map(|(_, c)| c.webhooks).collect()
}
