//! The `resources` names of an `EncryptionConfiguration` entry (`secrets`,
//! `deployments.apps`, `*.apps`, `*.` for the core group, `*.*` for everything) and the
//! storage prefixes they cover. Built-in resources live under their catalog
//! `storage_prefix` (`services` under `/registry/services/specs/`, `nodes` under
//! `/registry/minions/`, `deployments.apps` under `/registry/deployments/`); anything else is
//! a custom resource under `/registry/<group>/<plural>/`.

/// What one name in `resources` selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `plural` or `plural.group`.
    Resource { group: String, plural: String },
    /// `*.group`; `*.` is the core group.
    Group(String),
    /// `*.*`
    All,
}

impl Selector {
    /// Lower ranks win when two entries cover one key: exact names, then groups, then `*.*`.
    pub fn rank(&self) -> u8 {
        match self {
            Selector::Resource { .. } => 0,
            Selector::Group(_) => 1,
            Selector::All => 2,
        }
    }

    /// Whether `self` also covers what `other` selects.
    pub fn covers(&self, other: &Selector) -> bool {
        match (self, other) {
            (Selector::All, _) => true,
            (Selector::Group(g), Selector::Resource { group, .. }) => g == group,
            _ => self == other,
        }
    }
}

/// Parses one name as upstream's validation reads it.
pub fn parse(name: &str) -> Result<Selector, String> {
    if name.is_empty() {
        return Err("resource name must not be empty".into());
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("resource name should not contain capital letters".into());
    }
    if name == "*" {
        return Err(
            "use '*.' to encrypt all the resources from the core API group or '*.*' to \
             encrypt all resources"
                .into(),
        );
    }
    if name == "*.*" {
        return Ok(Selector::All);
    }
    let (first, group) = match name.split_once('.') {
        Some((first, group)) => (first, group),
        None => (name, ""),
    };
    if group.contains('*') || (first.contains('*') && first != "*") {
        return Err("'*' may only stand for the whole resource part ('*.group')".into());
    }
    if group == "extensions" {
        return Err("'extensions' group has been removed and cannot be used for encryption".into());
    }
    if first == "*" {
        if group == "events.k8s.io" {
            return Err(
                "'*.events.k8s.io' objects are stored as core 'events'; list \
                        'events' instead"
                    .into(),
            );
        }
        return Ok(Selector::Group(group.to_string()));
    }
    let plural = first.to_string();
    match built_in(group, &plural) {
        Some(info) if info.storage_prefix.is_empty() => {
            return Err("resources which are never stored cannot be encrypted".into());
        }
        // Custom resources cannot be in the core group: most likely a typo (`secret`).
        // Accepted as upstream does, but said.
        None if group.is_empty() => {
            tracing::warn!(
                resource = name,
                "encryption config names no known core resource"
            );
        }
        _ => {}
    }
    Ok(Selector::Resource {
        group: group.to_string(),
        plural,
    })
}

fn built_in(group: &str, plural: &str) -> Option<&'static registry::ResourceInfo> {
    registry::catalog::all()
        .iter()
        .find(|i| i.group == group && i.plural == plural)
}

/// The storage key prefixes `sel` covers; `None` for every key.
pub fn prefixes(sel: &Selector) -> Option<Vec<String>> {
    let mut out: Vec<String> = match sel {
        Selector::All => return None,
        Selector::Resource { group, plural } => vec![match built_in(group, plural) {
            Some(info) => format!("/registry/{}/", info.storage_prefix),
            None if group.is_empty() => format!("/registry/{plural}/"),
            None => format!("/registry/{group}/{plural}/"),
        }],
        Selector::Group(group) => {
            let mut v: Vec<String> = registry::catalog::all()
                .iter()
                .filter(|i| i.group == group && !i.storage_prefix.is_empty())
                .map(|i| format!("/registry/{}/", i.storage_prefix))
                .collect();
            if !group.is_empty() {
                // Custom resources of the group.
                v.push(format!("/registry/{group}/"));
            }
            v
        }
    };
    out.sort();
    out.dedup();
    Some(out)
}
