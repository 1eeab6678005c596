//! Quota scopes (pure): which pods a scoped quota tracks (upstream's pod evaluator
//! `MatchingScopes`). Every scope must hold.

use k8s_openapi::api::core::v1::{Pod, ResourceQuotaSpec, ScopedResourceSelectorRequirement};

/// The quota's scopes, `spec.scopes` read as `Exists` requirements.
pub fn requirements(spec: &ResourceQuotaSpec) -> Vec<ScopedResourceSelectorRequirement> {
    let plain = spec
        .scopes
        .iter()
        .flatten()
        .map(|s| ScopedResourceSelectorRequirement {
            scope_name: s.clone(),
            operator: "Exists".into(),
            values: None,
        });
    let selected = spec
        .scope_selector
        .as_ref()
        .and_then(|s| s.match_expressions.clone())
        .unwrap_or_default();
    plain.chain(selected).collect()
}

/// BestEffort QoS: no container asks for or caps cpu or memory.
fn best_effort(pod: &Pod) -> bool {
    let Some(spec) = pod.spec.as_ref() else {
        return true;
    };
    spec.containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
        .all(|c| {
            let r = c.resources.as_ref();
            let none = |m: Option<&std::collections::BTreeMap<String, _>>| {
                m.is_none_or(|m| !m.contains_key("cpu") && !m.contains_key("memory"))
            };
            none(r.and_then(|r| r.requests.as_ref())) && none(r.and_then(|r| r.limits.as_ref()))
        })
}

fn matches(pod: &Pod, req: &ScopedResourceSelectorRequirement) -> bool {
    let spec = pod.spec.as_ref();
    let holds = match req.scope_name.as_str() {
        "Terminating" => spec
            .and_then(|s| s.active_deadline_seconds)
            .is_some_and(|d| d >= 0),
        "NotTerminating" => spec.and_then(|s| s.active_deadline_seconds).is_none(),
        "BestEffort" => best_effort(pod),
        "NotBestEffort" => !best_effort(pod),
        "PriorityClass" => {
            let class = spec.and_then(|s| s.priority_class_name.as_deref());
            let values = req.values.as_deref().unwrap_or_default();
            return match req.operator.as_str() {
                "Exists" => class.is_some_and(|c| !c.is_empty()),
                "DoesNotExist" => class.is_none_or(str::is_empty),
                "In" => class.is_some_and(|c| values.iter().any(|v| v == c)),
                "NotIn" => class.is_none_or(|c| !values.iter().any(|v| v == c)),
                _ => false,
            };
        }
        "CrossNamespacePodAffinity" => {
            let affinity = spec.and_then(|s| s.affinity.as_ref());
            let cross = |terms: Option<Vec<k8s_openapi::api::core::v1::PodAffinityTerm>>| {
                terms.into_iter().flatten().any(|t| {
                    t.namespace_selector.is_some() || t.namespaces.is_some_and(|n| !n.is_empty())
                })
            };
            let a = affinity.and_then(|a| a.pod_affinity.clone());
            let aa = affinity.and_then(|a| a.pod_anti_affinity.clone());
            cross(a.and_then(|a| a.required_during_scheduling_ignored_during_execution))
                || cross(aa.and_then(|a| a.required_during_scheduling_ignored_during_execution))
        }
        _ => false,
    };
    match req.operator.as_str() {
        "DoesNotExist" => !holds,
        _ => holds,
    }
}

/// Whether a quota with these scope requirements tracks the pod.
pub fn tracks(pod: &Pod, reqs: &[ScopedResourceSelectorRequirement]) -> bool {
    reqs.iter().all(|r| matches(pod, r))
}

#[cfg(test)]
mod tests;
