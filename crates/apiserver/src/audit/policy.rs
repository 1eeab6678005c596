//! The audit policy (`audit.k8s.io/v1` `Policy`): rules are tried in order and the first
//! that matches a request sets its level and the stages left out (pure).

use serde::Deserialize;

use crate::auth::UserInfo;
use crate::authz::Attributes;

/// How much of a request is recorded, from nothing to both bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
pub enum Level {
    None,
    Metadata,
    Request,
    RequestResponse,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub enum Stage {
    RequestReceived,
    ResponseStarted,
    ResponseComplete,
    Panic,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Policy {
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
    #[serde(default)]
    pub omit_managed_fields: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub level: Level,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub user_groups: Vec<String>,
    #[serde(default)]
    pub verbs: Vec<String>,
    #[serde(default)]
    pub resources: Vec<GroupResources>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    #[serde(default, rename = "nonResourceURLs")]
    pub non_resource_urls: Vec<String>,
    #[serde(default)]
    pub omit_stages: Vec<Stage>,
    pub omit_managed_fields: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupResources {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub resource_names: Vec<String>,
}

/// What the policy decided for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub omit_stages: Vec<Stage>,
    pub omit_managed_fields: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("not an audit.k8s.io Policy: {0}")]
    Parse(#[from] serde_yaml::Error),
    #[error("apiVersion {0:?} is not audit.k8s.io/v1")]
    Version(String),
    #[error("kind {0:?} is not Policy")]
    Kind(String),
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Header {
            #[serde(default)]
            api_version: String,
            #[serde(default)]
            kind: String,
        }
        let header: Header = serde_yaml::from_str(text)?;
        if header.api_version != "audit.k8s.io/v1" {
            return Err(PolicyError::Version(header.api_version));
        }
        if header.kind != "Policy" {
            return Err(PolicyError::Kind(header.kind));
        }
        Ok(serde_yaml::from_str(text)?)
    }

    /// The first matching rule decides; no rule matching means level None.
    pub fn evaluate(&self, user: &UserInfo, a: &Attributes) -> Decision {
        let Some(rule) = self.rules.iter().find(|r| r.matches(user, a)) else {
            return Decision {
                level: Level::None,
                omit_stages: self.omit_stages.clone(),
                omit_managed_fields: self.omit_managed_fields,
            };
        };
        let mut omit_stages = self.omit_stages.clone();
        for s in &rule.omit_stages {
            if !omit_stages.contains(s) {
                omit_stages.push(*s);
            }
        }
        let mut level = rule.level;
        // Deliberately stricter than upstream, which records whatever level the rule
        // names: a Secret's data or a minted token never reaches the audit log.
        if carries_credentials(a) {
            level = level.min(Level::Metadata);
        }
        Decision {
            level,
            omit_stages,
            omit_managed_fields: rule.omit_managed_fields.unwrap_or(self.omit_managed_fields),
        }
    }
}

/// Requests whose bodies hold credentials: Secrets and service account token requests.
pub fn carries_credentials(a: &Attributes) -> bool {
    a.resource_request
        && a.api_group.is_empty()
        && (a.resource == "secrets"
            || (a.resource == "serviceaccounts" && a.subresource == "token"))
}

impl Rule {
    fn matches(&self, user: &UserInfo, a: &Attributes) -> bool {
        if !self.users.is_empty() && !self.users.contains(&user.name) {
            return false;
        }
        if !self.user_groups.is_empty() && !user.groups.iter().any(|g| self.user_groups.contains(g))
        {
            return false;
        }
        if !self.verbs.is_empty() && !self.verbs.contains(&a.verb) {
            return false;
        }
        if a.resource_request {
            self.matches_resource(a)
        } else {
            self.matches_path(&a.path)
        }
    }

    fn matches_path(&self, path: &str) -> bool {
        if !self.resources.is_empty() || !self.namespaces.is_empty() {
            return false;
        }
        self.non_resource_urls.is_empty()
            || self
                .non_resource_urls
                .iter()
                .any(|spec| match spec.strip_suffix('*') {
                    Some(prefix) => path.starts_with(prefix),
                    None => path == spec,
                })
    }

    fn matches_resource(&self, a: &Attributes) -> bool {
        if !self.non_resource_urls.is_empty() {
            return false;
        }
        // `""` in `namespaces` stands for cluster-scoped requests.
        if !self.namespaces.is_empty() && !self.namespaces.contains(&a.namespace) {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        self.resources.iter().any(|gr| gr.matches(a))
    }
}

impl GroupResources {
    fn matches(&self, a: &Attributes) -> bool {
        if self.group != a.api_group {
            return false;
        }
        if self.resources.is_empty() {
            return true;
        }
        if !self.resource_names.is_empty() && !self.resource_names.contains(&a.name) {
            return false;
        }
        self.resources.iter().any(|spec| {
            if spec == "*" {
                return true;
            }
            if a.subresource.is_empty() {
                return *spec == a.resource;
            }
            if let Some(sub) = spec.strip_prefix("*/") {
                return sub == a.subresource;
            }
            if let Some(res) = spec.strip_suffix("/*") {
                return res == a.resource;
            }
            spec.split_once('/') == Some((a.resource.as_str(), a.subresource.as_str()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::attributes::from_request;
    use expect_test::{expect, Expect};
    use http::Method;

    const POLICY: &str = r#"
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  nonResourceURLs: ["/healthz*", "/version"]
- level: None
  users: ["system:kube-scheduler"]
  verbs: ["watch"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["configmaps"]
  omitStages: [ResponseStarted]
- level: Request
  resources:
  - group: ""
    resources: ["pods/log", "*/status"]
  - group: apps
    resources: ["deployments/*"]
    resourceNames: ["web"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["secrets"]
- level: Metadata
  namespaces: ["kube-system"]
  omitManagedFields: true
- level: None
  userGroups: ["system:nodes"]
- level: Metadata
"#;

    fn check(user: &str, groups: &[&str], method: Method, path_and_query: &str, want: Expect) {
        let policy = Policy::parse(POLICY).expect("policy");
        let (path, q) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let a = from_request(&method, path, &crate::request::parse_query(Some(q)));
        let user = UserInfo {
            name: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            ..UserInfo::default()
        };
        let d = policy.evaluate(&user, &a);
        want.assert_eq(&format!(
            "{:?} omit={:?} omitManagedFields={}",
            d.level, d.omit_stages, d.omit_managed_fields
        ));
    }

    #[test]
    fn rules() {
        let admin = ("admin", &["system:masters"][..]);
        let node = ("system:node:n1", &["system:nodes"][..]);
        let get = |path: &str, want| check(admin.0, admin.1, Method::GET, path, want);
        get(
            "/healthz",
            expect!["None omit=[RequestReceived] omitManagedFields=false"],
        );
        get(
            "/healthz/etcd",
            expect!["None omit=[RequestReceived] omitManagedFields=false"],
        );
        get(
            "/version/",
            expect!["Metadata omit=[RequestReceived] omitManagedFields=false"],
        );
        get(
            "/api/v1/namespaces/a/configmaps/x",
            expect![
                "RequestResponse omit=[RequestReceived, ResponseStarted] omitManagedFields=false"
            ],
        );
        // `pods` is not `pods/log`: a subresource matches only its own spelling.
        get(
            "/api/v1/namespaces/a/pods/x",
            expect!["Metadata omit=[RequestReceived] omitManagedFields=false"],
        );
        get(
            "/api/v1/namespaces/a/pods/x/log",
            expect!["Request omit=[RequestReceived] omitManagedFields=false"],
        );
        get(
            "/api/v1/namespaces/a/pods/x/status",
            expect!["Request omit=[RequestReceived] omitManagedFields=false"],
        );
        get(
            "/apis/apps/v1/namespaces/a/deployments/web/scale",
            expect!["Request omit=[RequestReceived] omitManagedFields=false"],
        );
        get(
            "/apis/apps/v1/namespaces/a/deployments/other/scale",
            expect!["Metadata omit=[RequestReceived] omitManagedFields=false"],
        );
        // Secrets never go past Metadata, whatever the rule says.
        get(
            "/api/v1/namespaces/a/secrets/s",
            expect!["Metadata omit=[RequestReceived] omitManagedFields=false"],
        );
        check(
            admin.0,
            admin.1,
            Method::POST,
            "/api/v1/namespaces/a/serviceaccounts/default/token",
            expect!["Metadata omit=[RequestReceived] omitManagedFields=false"],
        );
        get(
            "/api/v1/namespaces/kube-system/pods",
            expect!["Metadata omit=[RequestReceived] omitManagedFields=true"],
        );
        check(
            node.0,
            node.1,
            Method::GET,
            "/api/v1/nodes/n1",
            expect!["None omit=[RequestReceived] omitManagedFields=false"],
        );
        check(
            "system:kube-scheduler",
            &[],
            Method::GET,
            "/api/v1/pods?watch=true",
            expect!["None omit=[RequestReceived] omitManagedFields=false"],
        );
        check(
            "system:kube-scheduler",
            &[],
            Method::GET,
            "/api/v1/pods",
            expect!["Metadata omit=[RequestReceived] omitManagedFields=false"],
        );
    }

    #[test]
    fn no_rule_matching_is_none() {
        let policy = Policy::parse("apiVersion: audit.k8s.io/v1\nkind: Policy\nrules: []\n")
            .expect("policy");
        let a = from_request(&Method::GET, "/api/v1/pods", &Default::default());
        assert_eq!(
            policy.evaluate(&UserInfo::anonymous(), &a).level,
            Level::None
        );
    }

    #[test]
    fn refuses_other_kinds() {
        let err = Policy::parse("apiVersion: v1\nkind: ConfigMap\n").map(|_| ());
        expect![[r#"Err(Version("v1"))"#]].assert_eq(&format!("{err:?}"));
    }
}
