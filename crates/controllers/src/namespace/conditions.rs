//! The conditions a terminating namespace reports (upstream's namespace deletion
//! conditions): what discovery and deletion found, which resources and which finalizers
//! still hold it. Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::NamespaceCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

/// What one pass of content deletion left behind.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Remaining {
    /// Objects left per resource, by `resource.group` (`resource` for the core group).
    pub resources: BTreeMap<String, usize>,
    /// Objects left per finalizer they carry.
    pub finalizers: BTreeMap<String, usize>,
    /// Why discovery failed, if it did (some groups could not be listed).
    pub discovery_error: Option<String>,
    /// Why deleting some content failed, if it did.
    pub delete_error: Option<String>,
}

/// (type, reason and message when nothing is wrong), in upstream's order.
const TYPES: &[(&str, &str, &str)] = &[
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    (
        "NamespaceContentRemaining",
        "ContentRemoved",
        "All content successfully removed",
    ),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
];

/// The namespace's conditions after a pass: each deletion condition set (False when all is
/// well, True with the reason otherwise); other conditions kept; a transition time kept
/// while the status stays.
pub fn update(old: &[NamespaceCondition], r: &Remaining, now: &Time) -> Vec<NamespaceCondition> {
    let failing = |kind: &str| -> Option<(&'static str, String)> {
        match kind {
            "NamespaceDeletionDiscoveryFailure" => r.discovery_error.as_ref().map(|e| {
                (
                    "DiscoveryFailed",
                    format!("Discovery failed for some groups, {e}"),
                )
            }),
            "NamespaceDeletionContentFailure" => r.delete_error.as_ref().map(|e| {
                (
                    "ContentDeletionFailed",
                    format!("Failed to delete all resource types, {e}"),
                )
            }),
            "NamespaceContentRemaining" if !r.resources.is_empty() => Some((
                "SomeResourcesRemain",
                format!(
                    "Some resources are remaining: {}",
                    r.resources
                        .iter()
                        .map(|(res, n)| format!("{res} has {n} resource instances"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            "NamespaceFinalizersRemaining" if !r.finalizers.is_empty() => Some((
                "SomeFinalizerRemain",
                format!(
                    "Some finalizers are remaining: {}",
                    r.finalizers
                        .iter()
                        .map(|(f, n)| format!("{f} in {n} resource instances"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )),
            _ => None,
        }
    };
    let mut out: Vec<NamespaceCondition> = old.to_vec();
    for (kind, ok_reason, ok_message) in TYPES {
        let (status, reason, message) = match failing(kind) {
            Some((reason, message)) => ("True", reason.to_string(), message),
            None => ("False", ok_reason.to_string(), ok_message.to_string()),
        };
        let new = |since: Option<Time>| NamespaceCondition {
            type_: kind.to_string(),
            status: status.to_string(),
            reason: Some(reason.clone()),
            message: Some(message.clone()),
            last_transition_time: since.or_else(|| Some(now.clone())),
        };
        match out.iter_mut().find(|c| c.type_ == *kind) {
            Some(c) => {
                let since = (c.status == status)
                    .then(|| c.last_transition_time.clone())
                    .flatten();
                *c = new(since);
            }
            None => out.push(new(None)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;

    fn show(cs: &[NamespaceCondition]) -> String {
        cs.iter()
            .map(|c| {
                format!(
                    "{}={} {}: {}",
                    c.type_,
                    c.status,
                    c.reason.as_deref().unwrap_or(""),
                    c.message.as_deref().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn conditions_report_what_holds_the_namespace() {
        let now = Time(jiff::Timestamp::UNIX_EPOCH);
        let mut r = Remaining::default();
        r.resources.insert("configmaps".into(), 1);
        r.resources.insert("widgets.example.com".into(), 2);
        r.finalizers.insert("example.com/hold".into(), 3);
        let old = vec![NamespaceCondition {
            type_: "Other".into(),
            status: "True".into(),
            ..Default::default()
        }];
        let held = update(&old, &r, &now);
        expect![[r#"
            Other=True : 
            NamespaceDeletionDiscoveryFailure=False ResourcesDiscovered: All resources successfully discovered
            NamespaceDeletionGroupVersionParsingFailure=False ParsedGroupVersions: All legacy kube types successfully parsed
            NamespaceDeletionContentFailure=False ContentDeleted: All content successfully deleted, may be waiting on finalization
            NamespaceContentRemaining=True SomeResourcesRemain: Some resources are remaining: configmaps has 1 resource instances, widgets.example.com has 2 resource instances
            NamespaceFinalizersRemaining=True SomeFinalizerRemain: Some finalizers are remaining: example.com/hold in 3 resource instances"#]]
        .assert_eq(&show(&held));
        let clear = update(&held, &Remaining::default(), &now);
        expect![[r#"
            Other=True : 
            NamespaceDeletionDiscoveryFailure=False ResourcesDiscovered: All resources successfully discovered
            NamespaceDeletionGroupVersionParsingFailure=False ParsedGroupVersions: All legacy kube types successfully parsed
            NamespaceDeletionContentFailure=False ContentDeleted: All content successfully deleted, may be waiting on finalization
            NamespaceContentRemaining=False ContentRemoved: All content successfully removed
            NamespaceFinalizersRemaining=False ContentHasNoFinalizers: All content-preserving finalizers finished"#]]
        .assert_eq(&show(&clear));
    }
}
