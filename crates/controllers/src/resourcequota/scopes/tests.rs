use super::*;
use k8s_openapi::api::core::v1::{Container, PodSpec, ResourceRequirements, ScopeSelector};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

fn pod(deadline: Option<i64>, cpu: bool, class: Option<&str>) -> Pod {
    Pod {
        spec: Some(PodSpec {
            active_deadline_seconds: deadline,
            priority_class_name: class.map(str::to_string),
            containers: vec![Container {
                name: "c".into(),
                resources: cpu.then(|| ResourceRequirements {
                    requests: Some([("cpu".to_string(), Quantity("1".into()))].into()),
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn spec(scopes: &[&str], selector: Vec<(&str, &str, &[&str])>) -> ResourceQuotaSpec {
    ResourceQuotaSpec {
        scopes: Some(scopes.iter().map(|s| s.to_string()).collect())
            .filter(|s: &Vec<_>| !s.is_empty()),
        scope_selector: Some(ScopeSelector {
            match_expressions: Some(
                selector
                    .into_iter()
                    .map(|(name, op, values)| ScopedResourceSelectorRequirement {
                        scope_name: name.into(),
                        operator: op.into(),
                        values: Some(values.iter().map(|v| v.to_string()).collect()),
                    })
                    .collect(),
            ),
        }),
        ..Default::default()
    }
}

#[test]
fn scope_table() {
    let cases: Vec<(ResourceQuotaSpec, Pod, bool)> = vec![
        (spec(&[], vec![]), pod(None, true, None), true),
        (
            spec(&["Terminating"], vec![]),
            pod(Some(30), true, None),
            true,
        ),
        (spec(&["Terminating"], vec![]), pod(None, true, None), false),
        (
            spec(&["NotTerminating"], vec![]),
            pod(None, true, None),
            true,
        ),
        (spec(&["BestEffort"], vec![]), pod(None, false, None), true),
        (spec(&["BestEffort"], vec![]), pod(None, true, None), false),
        (
            spec(&["NotBestEffort", "NotTerminating"], vec![]),
            pod(None, true, None),
            true,
        ),
        (
            spec(&[], vec![("PriorityClass", "In", &["high"])]),
            pod(None, true, Some("high")),
            true,
        ),
        (
            spec(&[], vec![("PriorityClass", "In", &["high"])]),
            pod(None, true, Some("low")),
            false,
        ),
        (
            spec(&[], vec![("PriorityClass", "NotIn", &["high"])]),
            pod(None, true, None),
            true,
        ),
        (
            spec(&[], vec![("PriorityClass", "Exists", &[])]),
            pod(None, true, None),
            false,
        ),
        (
            spec(&[], vec![("Terminating", "DoesNotExist", &[])]),
            pod(None, true, None),
            true,
        ),
    ];
    for (i, (s, p, want)) in cases.into_iter().enumerate() {
        assert_eq!(tracks(&p, &requirements(&s)), want, "case {i}");
    }
}
