//! Apply conflicts and the 409 message upstream writes for them.

use super::fieldset::FieldSet;
use super::managed::{ManagedEntry, Operation};
use super::path::{path_text, Path};

/// A field the applier would change that another manager owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// The field, as upstream prints paths: `.spec.replicas`,
    /// `.spec.containers[name="app"].image`.
    pub field: String,
    /// The other manager's operation, version and subresource: the message names them.
    pub operation: Operation,
    pub api_version: String,
    pub subresource: String,
    /// Upstream's identifier of the manager, by which messages sort managers.
    pub(crate) identifier: String,
    pub(crate) path: Path,
}

impl Conflict {
    /// The conflicts of `entry` over the fields in `set`, in upstream's path order.
    pub(crate) fn from_set(entry: &ManagedEntry, set: &FieldSet) -> Vec<Conflict> {
        set.paths()
            .iter()
            .map(|p| Conflict {
                manager: entry.manager.clone(),
                field: path_text(p),
                operation: entry.operation,
                api_version: entry.api_version.clone(),
                subresource: entry.subresource.clone(),
                identifier: entry.identifier(),
                path: p.clone(),
            })
            .collect()
    }

    /// The manager as upstream's messages name it: `"kubectl"` for an applier,
    /// `"kube-controller-manager" with subresource "scale" using apps/v1` for an updater.
    pub fn manager_text(&self) -> String {
        let mut s = format!("{:?}", self.manager);
        if !self.subresource.is_empty() {
            s.push_str(&format!(" with subresource {:?}", self.subresource));
        }
        if self.operation == Operation::Update {
            s.push_str(&format!(" using {}", self.api_version));
        }
        s
    }

    /// The message of this conflict's `Status.details.causes[]` entry (type
    /// `FieldManagerConflict`; its `field` is [`field`](Self::field)).
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_text())
    }
}

/// Upstream's 409 message: `Apply failed with 1 conflict: conflict with "m" using v1: .a`, or
/// for several, per manager (sorted) a `conflicts with "m" using v1:` line followed by
/// `- <field>` lines.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    if let [c] = conflicts {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            c.manager_text(),
            c.field
        );
    }
    let mut managers: Vec<&Conflict> = Vec::new();
    for c in conflicts {
        if !managers.iter().any(|m| m.identifier == c.identifier) {
            managers.push(c);
        }
    }
    managers.sort_by(|a, b| a.identifier.cmp(&b.identifier));
    let mut lines = Vec::new();
    for m in managers {
        lines.push(format!("conflicts with {}:", m.manager_text()));
        for c in conflicts.iter().filter(|c| c.identifier == m.identifier) {
            lines.push(format!("- {}", c.field));
        }
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.len(),
        lines.join("\n")
    )
}
