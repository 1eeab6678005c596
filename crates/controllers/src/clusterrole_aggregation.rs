//! Upstream's ClusterRole aggregation controller: a ClusterRole with an `aggregationRule`
//! gets as `rules` the rules of every other ClusterRole its selectors match (roles in name
//! order, each distinct rule once). Any ClusterRole change re-checks every aggregating role.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

struct Ctx {
    client: Client,
    store: kube::runtime::reflector::Store<ClusterRole>,
}

pub async fn run(client: Client) {
    let roles: Api<ClusterRole> = Api::all(client.clone());
    let controller = Controller::new(roles.clone(), watcher::Config::default());
    let store = controller.store();
    let mapper_store = store.clone();
    controller
        .watches(roles, watcher::Config::default(), move |_changed| {
            mapper_store
                .state()
                .iter()
                .filter(|r| r.aggregation_rule.is_some())
                .map(|r| ObjectRef::from_obj(r.as_ref()))
                .collect::<Vec<_>>()
        })
        .run(reconcile, error_policy, Arc::new(Ctx { client, store }))
        .for_each(|_| async {})
        .await;
}

fn error_policy(role: Arc<ClusterRole>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(clusterrole = %role.name_any(), error = %err, "aggregating cluster role; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// The rules `role` aggregates from `all` (pure).
pub fn aggregate(role: &ClusterRole, all: &[Arc<ClusterRole>]) -> Option<Vec<PolicyRule>> {
    let selectors = role
        .aggregation_rule
        .as_ref()?
        .cluster_role_selectors
        .as_ref();
    let selectors = selectors.map(Vec::as_slice).unwrap_or_default();
    let mut sources: Vec<&ClusterRole> = all
        .iter()
        .map(Arc::as_ref)
        .filter(|r| r.name_any() != role.name_any())
        .filter(|r| {
            let labels = r.metadata.labels.clone().unwrap_or_default();
            selectors
                .iter()
                .any(|s| !crate::selector::is_empty(s) && crate::selector::matches(s, &labels))
        })
        .collect();
    sources.sort_by_key(|r| r.name_any());
    let mut rules: Vec<PolicyRule> = Vec::new();
    for r in sources {
        for rule in r.rules.iter().flatten() {
            if !rules.contains(rule) {
                rules.push(rule.clone());
            }
        }
    }
    Some(rules)
}

async fn reconcile(role: Arc<ClusterRole>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let all = ctx.store.state();
    let Some(want) = aggregate(&role, &all) else {
        return Ok(Action::await_change());
    };
    if role.rules.clone().unwrap_or_default() == want {
        return Ok(Action::await_change());
    }
    let api: Api<ClusterRole> = Api::all(ctx.client.clone());
    let patch = serde_json::json!({ "rules": want });
    api.patch(
        &role.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&patch),
    )
    .await?;
    tracing::info!(clusterrole = %role.name_any(), rules = want.len(), "aggregated cluster role rules");
    Ok(Action::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn role(v: serde_json::Value) -> Arc<ClusterRole> {
        Arc::new(serde_json::from_value(v).expect("cluster role"))
    }

    #[test]
    fn aggregates_matching_roles_in_name_order() {
        let all = vec![
            role(serde_json::json!({"metadata": {"name": "view"},
                "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"agg/view": "true"}}]}})),
            role(
                serde_json::json!({"metadata": {"name": "b-extra", "labels": {"agg/view": "true"}},
                "rules": [{"apiGroups": ["x.io"], "resources": ["widgets"], "verbs": ["get"]},
                          {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
            ),
            role(
                serde_json::json!({"metadata": {"name": "a-base", "labels": {"agg/view": "true"}},
                "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]}),
            ),
            role(
                serde_json::json!({"metadata": {"name": "unrelated", "labels": {"agg/edit": "true"}},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]}),
            ),
        ];
        let got = aggregate(&all[0], &all).expect("aggregating");
        expect![[r#"[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]},{"apiGroups":["x.io"],"resources":["widgets"],"verbs":["get"]}]"#]]
            .assert_eq(&serde_json::to_string(&got).expect("json"));
        assert!(aggregate(&all[1], &all).is_none());
        // An empty selector selects nothing.
        let none = role(serde_json::json!({"metadata": {"name": "n"},
            "aggregationRule": {"clusterRoleSelectors": [{}]}}));
        assert_eq!(aggregate(&none, &all), Some(vec![]));
    }
}
