//! The owner → dependents graph and the pure decisions the collector takes from it.
//!
//! Every object the collector watches is a node keyed by uid; an owner reference is an
//! edge from the dependent to the owner's uid, whether or not that owner was ever seen
//! (an owner that is never seen is exactly what makes a dependent garbage).

use std::collections::{BTreeMap, BTreeSet};

/// Finalizer the apiserver adds for `propagationPolicy: Orphan`.
pub const ORPHAN: &str = "orphan";
/// Finalizer the apiserver adds for `propagationPolicy: Foreground`.
pub const FOREGROUND: &str = "foregroundDeletion";

/// Where an object lives in the API, enough to GET, PATCH or DELETE it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObjRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub uid: String,
}

/// One `metadata.ownerReferences` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    pub uid: String,
    pub block_owner_deletion: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub obj: ObjRef,
    pub owners: Vec<Owner>,
    pub deleting: bool,
    pub finalizers: Vec<String>,
    /// Which watched resource reported it, so a relist can drop what it no longer lists.
    pub source: String,
}

impl Node {
    pub fn has_finalizer(&self, f: &str) -> bool {
        self.finalizers.iter().any(|x| x == f)
    }

    /// Being deleted and waiting on the collector (orphan or foreground).
    fn awaits_collector(&self) -> bool {
        self.deleting && (self.has_finalizer(ORPHAN) || self.has_finalizer(FOREGROUND))
    }
}

#[derive(Default, Debug)]
pub struct Graph {
    nodes: BTreeMap<String, Node>,
    dependents: BTreeMap<String, BTreeSet<String>>,
}

impl Graph {
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    pub fn dependents(&self, uid: &str) -> Vec<&Node> {
        self.dependents
            .get(uid)
            .into_iter()
            .flatten()
            .filter_map(|d| self.nodes.get(d))
            .collect()
    }

    /// Records an added or changed object; returns the uids worth a look now.
    pub fn apply(&mut self, node: Node) -> Vec<String> {
        let uid = node.obj.uid.clone();
        let old = self.nodes.remove(&uid);
        if let Some(old) = &old {
            for o in &old.owners {
                self.unlink(&o.uid, &uid);
            }
        }
        for o in &node.owners {
            self.dependents
                .entry(o.uid.clone())
                .or_default()
                .insert(uid.clone());
        }
        let mut work = Vec::new();
        let owners_changed = old.as_ref().is_none_or(|o| o.owners != node.owners);
        // A dependent whose owner we have not seen may be garbage: the collector asks
        // the API, since the owner's watch may just not have listed it yet.
        if owners_changed && node.owners.iter().any(|o| !self.nodes.contains_key(&o.uid)) {
            work.push(uid.clone());
        }
        if node.awaits_collector() {
            work.push(uid.clone());
        }
        // An owner in foreground deletion waits on its dependents' changes.
        work.extend(self.waiting_owners(&node));
        // Dependents that were waiting for this owner to appear can now settle.
        if old.is_none() {
            work.extend(
                self.dependents
                    .get(&uid)
                    .into_iter()
                    .flatten()
                    .filter(|d| self.nodes.contains_key(*d))
                    .cloned(),
            );
        }
        self.nodes.insert(uid, node);
        dedup(work)
    }

    /// Forgets a deleted object; returns the uids worth a look now (its dependents, whose
    /// owner may now be gone, and owners waiting for it in foreground deletion).
    pub fn remove(&mut self, uid: &str) -> Vec<String> {
        let Some(node) = self.nodes.remove(uid) else {
            return Vec::new();
        };
        for o in &node.owners {
            self.unlink(&o.uid, uid);
        }
        let mut work: Vec<String> = self
            .dependents
            .get(uid)
            .into_iter()
            .flatten()
            .cloned()
            .collect();
        work.extend(self.waiting_owners(&node));
        dedup(work)
    }

    /// After a relist of `source`: forgets its nodes not in `seen`, as deletions.
    pub fn retain_listed(&mut self, source: &str, seen: &BTreeSet<String>) -> Vec<String> {
        let gone: Vec<String> = self
            .nodes
            .values()
            .filter(|n| n.source == source && !seen.contains(&n.obj.uid))
            .map(|n| n.obj.uid.clone())
            .collect();
        dedup(gone.iter().flat_map(|u| self.remove(u)).collect())
    }

    fn waiting_owners(&self, node: &Node) -> Vec<String> {
        node.owners
            .iter()
            .filter(|o| {
                self.nodes
                    .get(&o.uid)
                    .is_some_and(|n| n.deleting && n.has_finalizer(FOREGROUND))
            })
            .map(|o| o.uid.clone())
            .collect()
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(set) = self.dependents.get_mut(owner) {
            set.remove(dependent);
            if set.is_empty() {
                self.dependents.remove(owner);
            }
        }
    }
}

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = BTreeSet::new();
    v.retain(|x| seen.insert(x.clone()));
    v
}

/// What to do about an object being deleted that waits on the collector.
#[derive(Debug, PartialEq, Eq)]
pub enum OwnerPlan {
    /// Drop the owner's uid from these dependents' owner references, then the
    /// `orphan` finalizer.
    Orphan { dependents: Vec<ObjRef> },
    /// Delete these dependents (foreground); while `blocking` is non-empty the owner
    /// keeps its `foregroundDeletion` finalizer.
    Foreground {
        delete: Vec<ObjRef>,
        blocking: Vec<ObjRef>,
    },
    /// Nothing for the collector to do.
    None,
}

/// Upstream processes `orphan` before `foregroundDeletion` when both are present.
pub fn plan_for_owner(graph: &Graph, uid: &str) -> OwnerPlan {
    let Some(node) = graph.get(uid) else {
        return OwnerPlan::None;
    };
    if !node.deleting {
        return OwnerPlan::None;
    }
    let deps = graph.dependents(uid);
    if node.has_finalizer(ORPHAN) {
        return OwnerPlan::Orphan {
            dependents: deps.iter().map(|d| d.obj.clone()).collect(),
        };
    }
    if node.has_finalizer(FOREGROUND) {
        let delete = deps
            .iter()
            .filter(|d| !d.deleting)
            .map(|d| d.obj.clone())
            .collect();
        let blocking = deps
            .iter()
            .filter(|d| {
                d.owners
                    .iter()
                    .any(|o| o.uid == uid && o.block_owner_deletion)
            })
            .map(|d| d.obj.clone())
            .collect();
        return OwnerPlan::Foreground { delete, blocking };
    }
    OwnerPlan::None
}

/// What the API said about one of an object's owners.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerState {
    /// Exists with the referenced uid and is not being deleted in the foreground.
    Solid,
    /// Exists but is being deleted in the foreground, waiting for its dependents.
    WaitingForDependents,
    /// Not found, or found with another uid.
    Gone,
}

/// What to do about an object given the state of each of its owners.
#[derive(Debug, PartialEq, Eq)]
pub enum DependentPlan {
    Keep,
    /// Some owners are gone but a solid one remains: drop the dangling references.
    RemoveRefs(Vec<String>),
    /// No owner holds it any more: delete it with this propagation policy.
    Delete(&'static str),
}

pub fn plan_for_dependent(
    node: &Node,
    states: &[OwnerState],
    has_dependents: bool,
) -> DependentPlan {
    if node.owners.is_empty() || node.deleting {
        return DependentPlan::Keep;
    }
    let solid = states.contains(&OwnerState::Solid);
    let gone: Vec<String> = node
        .owners
        .iter()
        .zip(states)
        .filter(|(_, s)| **s == OwnerState::Gone)
        .map(|(o, _)| o.uid.clone())
        .collect();
    if solid {
        return if gone.is_empty() {
            DependentPlan::Keep
        } else {
            DependentPlan::RemoveRefs(gone)
        };
    }
    let waiting = states.contains(&OwnerState::WaitingForDependents);
    if waiting && has_dependents {
        // Its own dependents must go first so the waiting owner sees a full cascade.
        return DependentPlan::Delete("Foreground");
    }
    if node.has_finalizer(ORPHAN) {
        DependentPlan::Delete("Orphan")
    } else if node.has_finalizer(FOREGROUND) {
        DependentPlan::Delete("Foreground")
    } else {
        DependentPlan::Delete("Background")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `name[:deleting][+finalizer...] <- owner_uid[!]...` where `!` is blockOwnerDeletion.
    fn node(spec: &str) -> Node {
        let (head, owners) = spec.split_once("<-").unwrap_or((spec, ""));
        let mut parts = head.trim().split('+');
        let first = parts.next().unwrap_or_default();
        let (name, deleting) = match first.strip_suffix(":deleting") {
            Some(n) => (n, true),
            None => (first, false),
        };
        Node {
            obj: ObjRef {
                api_version: "v1".into(),
                kind: "ConfigMap".into(),
                namespace: Some("default".into()),
                name: name.into(),
                uid: name.into(),
            },
            owners: owners
                .split_whitespace()
                .map(|o| {
                    let (uid, block) = match o.strip_suffix('!') {
                        Some(u) => (u, true),
                        None => (o, false),
                    };
                    Owner {
                        api_version: "v1".into(),
                        kind: "ConfigMap".into(),
                        name: uid.into(),
                        uid: uid.into(),
                        block_owner_deletion: block,
                    }
                })
                .collect(),
            deleting,
            finalizers: parts.map(str::to_string).collect(),
            source: "v1/configmaps".into(),
        }
    }

    fn graph(specs: &[&str]) -> Graph {
        let mut g = Graph::default();
        for s in specs {
            g.apply(node(s));
        }
        g
    }

    fn names(v: &[ObjRef]) -> Vec<&str> {
        v.iter().map(|o| o.name.as_str()).collect()
    }

    #[test]
    fn plans_for_owners_being_deleted() {
        type Case<'a> = (&'a [&'a str], &'a str, &'a str);
        let cases: &[Case] = &[
            (&["o", "a <- o"], "o", "none"),
            (&["o:deleting", "a <- o"], "o", "none"),
            (
                &["o:deleting+orphan", "a <- o", "b <- o x", "c <- x"],
                "o",
                "orphan a b",
            ),
            (
                &["o:deleting+orphan+foregroundDeletion", "a <- o"],
                "o",
                "orphan a",
            ),
            (
                &["o:deleting+foregroundDeletion", "a <- o", "b <- o!"],
                "o",
                "delete a b; blocked by b",
            ),
            (
                &[
                    "o:deleting+foregroundDeletion",
                    "a:deleting+x <- o!",
                    "b <- o",
                ],
                "o",
                "delete b; blocked by a",
            ),
            (
                &["o:deleting+foregroundDeletion", "a <- x!"],
                "o",
                "delete ; blocked by ",
            ),
            (&["a <- o"], "o", "none"),
        ];
        for (specs, uid, want) in cases {
            let got = match plan_for_owner(&graph(specs), uid) {
                OwnerPlan::None => "none".to_string(),
                OwnerPlan::Orphan { dependents } => {
                    format!("orphan {}", names(&dependents).join(" "))
                }
                OwnerPlan::Foreground { delete, blocking } => format!(
                    "delete {}; blocked by {}",
                    names(&delete).join(" "),
                    names(&blocking).join(" ")
                ),
            };
            assert_eq!(got, *want, "{specs:?}");
        }
    }

    #[test]
    fn plans_for_dependents_by_owner_state() {
        use OwnerState::*;
        let cases: &[(&str, &[OwnerState], bool, DependentPlan)] = &[
            ("a <- o", &[Solid], false, DependentPlan::Keep),
            (
                "a <- o",
                &[Gone],
                false,
                DependentPlan::Delete("Background"),
            ),
            (
                "a <- o p",
                &[Gone, Gone],
                false,
                DependentPlan::Delete("Background"),
            ),
            (
                "a <- o p",
                &[Gone, Solid],
                false,
                DependentPlan::RemoveRefs(vec!["o".into()]),
            ),
            (
                "a <- o p",
                &[WaitingForDependents, Gone],
                true,
                DependentPlan::Delete("Foreground"),
            ),
            (
                "a <- o",
                &[WaitingForDependents],
                false,
                DependentPlan::Delete("Background"),
            ),
            (
                "a+orphan <- o",
                &[Gone],
                false,
                DependentPlan::Delete("Orphan"),
            ),
            (
                "a+foregroundDeletion <- o",
                &[Gone],
                false,
                DependentPlan::Delete("Foreground"),
            ),
            ("a:deleting <- o", &[Gone], false, DependentPlan::Keep),
            ("a", &[], false, DependentPlan::Keep),
        ];
        for (spec, states, deps, want) in cases {
            assert_eq!(
                plan_for_dependent(&node(spec), states, *deps),
                *want,
                "{spec} {states:?}"
            );
        }
    }

    #[test]
    fn graph_events_say_what_to_look_at() {
        let mut g = Graph::default();
        // A dependent whose owner is unseen is worth a look; once seen, not again.
        assert_eq!(g.apply(node("a <- o")), vec!["a"]);
        // The owner appearing lets its waiting dependents settle.
        assert_eq!(g.apply(node("o")), vec!["a"]);
        assert!(g.apply(node("a <- o")).is_empty());
        // An owner being deleted in the foreground wants a look, and so do its dependents' changes.
        assert_eq!(g.apply(node("o:deleting+foregroundDeletion")), vec!["o"]);
        assert_eq!(g.apply(node("a:deleting+x <- o")), vec!["o"]);
        // Removing a dependent wakes its waiting owner; removing an owner wakes its dependents.
        assert_eq!(g.remove("a"), vec!["o"]);
        g.apply(node("b <- o"));
        assert_eq!(g.remove("o"), vec!["b"]);
        assert!(g.get("o").is_none());
        assert_eq!(
            names(
                &g.dependents("o")
                    .iter()
                    .map(|n| n.obj.clone())
                    .collect::<Vec<_>>()
            ),
            vec!["b"]
        );
        // A relist drops what it no longer lists, as deletions.
        g.apply(node("c <- b"));
        let seen: BTreeSet<String> = ["c".to_string()].into();
        assert_eq!(g.retain_listed("v1/configmaps", &seen), vec!["c"]);
        assert!(g.get("b").is_none());
    }
}
