//! One sync's pod changes for a DaemonSet, decided per node (upstream `podsShouldBeOnNode`
//! and `rollingUpdate`): create where a pod belongs and none exists, delete failed pods,
//! duplicates and pods on nodes they no longer fit, and during a rolling update replace old
//! pods within `maxUnavailable`, or surge new ones first within `maxSurge`.

/// A daemon pod as the planner sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodView {
    pub name: String,
    pub terminating: bool,
    /// Failed or Succeeded: to be replaced.
    pub finished: bool,
    pub available: bool,
    /// Made from the current template (its hash label matches).
    pub updated: bool,
}

/// A node and the set's pods on it, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeView {
    pub name: String,
    pub should_run: bool,
    pub should_continue: bool,
    pub pods: Vec<PodView>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    /// Nodes to create a pod for.
    pub create: Vec<String>,
    /// Pods to delete.
    pub delete: Vec<String>,
}

impl NodeView {
    fn active(&self) -> impl Iterator<Item = &PodView> {
        self.pods.iter().filter(|p| !p.terminating && !p.finished)
    }
}

/// Placement: every fitting node gets one pod (two, old and new, while surging).
pub fn manage(nodes: &[NodeView], surge: bool) -> Changes {
    let mut c = Changes::default();
    for n in nodes {
        if n.should_run {
            if n.pods.is_empty() {
                c.create.push(n.name.clone());
            }
            c.delete.extend(
                n.pods
                    .iter()
                    .filter(|p| p.finished && !p.terminating)
                    .map(|p| p.name.clone()),
            );
            // Keep the oldest pod (with surge, the oldest of each kind); delete the rest.
            let mut kept_old = false;
            let mut kept_new = false;
            for p in n.active() {
                let keep = match (surge, p.updated) {
                    (false, _) => !std::mem::replace(&mut kept_old, true),
                    (true, true) => !std::mem::replace(&mut kept_new, true),
                    (true, false) => !std::mem::replace(&mut kept_old, true),
                };
                if !keep {
                    c.delete.push(p.name.clone());
                }
            }
        } else if !n.should_continue {
            c.delete.extend(n.active().map(|p| p.name.clone()));
            c.delete.extend(
                n.pods
                    .iter()
                    .filter(|p| p.finished && !p.terminating)
                    .map(|p| p.name.clone()),
            );
        }
    }
    c
}

/// `maxUnavailable`/`maxSurge` as an absolute number of nodes: an integer, or a percentage
/// of the desired number rounded up. Both zero would stall, so unavailable becomes 1.
pub fn resolve_limits(max_surge: &str, max_unavailable: &str, desired: i32) -> (i32, i32) {
    let scale = |v: &str| -> i32 {
        match v.strip_suffix('%') {
            Some(pct) => {
                let pct: i64 = pct.parse().unwrap_or(0);
                let n = (pct * i64::from(desired) + 99) / 100;
                i32::try_from(n).unwrap_or(i32::MAX)
            }
            None => v.parse().unwrap_or(0),
        }
    };
    let (surge, unavailable) = (scale(max_surge), scale(max_unavailable));
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// The rolling update's changes for this sync.
pub fn rolling(nodes: &[NodeView], max_surge: i32, max_unavailable: i32) -> Changes {
    if max_surge > 0 {
        surge_update(nodes, max_surge)
    } else {
        replace_update(nodes, max_unavailable)
    }
}

/// One old and one new active pod at most, or `None` when a kind is duplicated (the
/// placement pass removes duplicates first).
fn old_and_new(n: &NodeView) -> Option<(Option<&PodView>, Option<&PodView>)> {
    let (new, old): (Vec<&PodView>, Vec<&PodView>) = n.active().partition(|p| p.updated);
    (new.len() <= 1 && old.len() <= 1).then(|| (old.first().copied(), new.first().copied()))
}

/// Delete old pods, unavailable ones first and freely, available ones only while fewer than
/// `max_unavailable` nodes lack an available pod.
fn replace_update(nodes: &[NodeView], max_unavailable: i32) -> Changes {
    let mut unavailable = 0;
    let mut now = Vec::new();
    let mut candidates = Vec::new();
    for n in nodes.iter().filter(|n| n.should_run) {
        let Some(pair) = old_and_new(n) else {
            unavailable += 1;
            continue;
        };
        match pair {
            (None, None) | (Some(_), Some(_)) => unavailable += 1,
            (None, Some(new)) => {
                if !new.available {
                    unavailable += 1;
                }
            }
            (Some(old), None) => {
                if !old.available {
                    now.push(old.name.clone());
                } else if unavailable < max_unavailable {
                    candidates.push(old.name.clone());
                }
            }
        }
    }
    let room = usize::try_from(max_unavailable - unavailable).unwrap_or(0);
    now.extend(candidates.into_iter().take(room));
    Changes {
        create: Vec::new(),
        delete: now,
    }
}

/// Start new pods beside old ones (at once where the old one is unavailable, else within
/// `max_surge`), and delete an old pod once its replacement is available.
fn surge_update(nodes: &[NodeView], max_surge: i32) -> Changes {
    let mut surging = 0;
    let mut c = Changes::default();
    let mut candidates = Vec::new();
    for n in nodes.iter().filter(|n| n.should_run) {
        let Some(pair) = old_and_new(n) else {
            continue;
        };
        match pair {
            (Some(old), Some(new)) => {
                if new.available {
                    c.delete.push(old.name.clone());
                } else {
                    surging += 1;
                }
            }
            (Some(old), None) => {
                if !old.available {
                    c.create.push(n.name.clone());
                } else if surging < max_surge {
                    candidates.push(n.name.clone());
                }
            }
            _ => {}
        }
    }
    let room = usize::try_from(max_surge - surging).unwrap_or(0);
    c.create.extend(candidates.into_iter().take(room));
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nodes from a compact form: `<name>[!|~]:<pods>` where `!` means the pod should not
    /// run there (and may not stay), `~` should not run but may stay; pods are letters:
    /// N new available, n new unavailable, O old available, o old unavailable,
    /// T terminating, F failed.
    fn nodes(s: &str) -> Vec<NodeView> {
        s.split_whitespace()
            .map(|tok| {
                let (head, pods) = tok.split_once(':').unwrap_or((tok, ""));
                let (name, run, cont) = match head.strip_suffix('!') {
                    Some(n) => (n, false, false),
                    None => match head.strip_suffix('~') {
                        Some(n) => (n, false, true),
                        None => (head, true, true),
                    },
                };
                NodeView {
                    name: name.into(),
                    should_run: run,
                    should_continue: cont,
                    pods: pods
                        .chars()
                        .enumerate()
                        .map(|(i, c)| PodView {
                            name: format!("{name}-{i}{c}"),
                            terminating: c == 'T',
                            finished: c == 'F',
                            available: matches!(c, 'N' | 'O'),
                            updated: matches!(c, 'N' | 'n' | 'T' | 'F'),
                        })
                        .collect(),
                }
            })
            .collect()
    }

    fn show(c: &Changes) -> String {
        let mut parts: Vec<String> = c.create.iter().map(|n| format!("+{n}")).collect();
        parts.extend(c.delete.iter().map(|p| format!("-{p}")));
        parts.join(" ")
    }

    #[test]
    fn placement_table() {
        let cases = [
            ("a: b:N", false, "+a"),
            ("a:N b:N", false, ""),
            ("a:T", false, ""),
            ("a:F", false, "-a-0F"),
            ("a:NN", false, "-a-1N"),
            ("a:ON", true, ""),
            ("a:OON", true, "-a-1O"),
            ("a!:N", false, "-a-0N"),
            ("a~:N", false, ""),
            ("a!:", false, ""),
        ];
        for (have, surge, want) in cases {
            assert_eq!(show(&manage(&nodes(have), surge)), want, "{have}");
        }
    }

    #[test]
    fn rolling_table() {
        // (nodes, maxSurge, maxUnavailable, changes)
        let cases = [
            ("a:O b:O c:O", 0, 1, "-a-0O"),
            ("a:O b:O c:O", 0, 2, "-a-0O -b-0O"),
            ("a:T b:O c:O", 0, 1, ""),
            ("a:n b:O c:O", 0, 1, ""),
            ("a:N b:O c:O", 0, 1, "-b-0O"),
            ("a:o b:O c:O", 0, 1, "-a-0o -b-0O"),
            ("a: b:O", 0, 1, ""),
            ("a:N b:N", 0, 1, ""),
            ("a!:O b:O", 0, 1, "-b-0O"),
            ("a:O b:O", 1, 0, "+a"),
            ("a:On b:O", 1, 0, ""),
            ("a:ON b:O", 1, 0, "+b -a-0O"),
            ("a:o b:O", 1, 0, "+a +b"),
        ];
        for (have, surge, unavailable, want) in cases {
            assert_eq!(
                show(&rolling(&nodes(have), surge, unavailable)),
                want,
                "{have} surge {surge} unavailable {unavailable}"
            );
        }
        assert_eq!(resolve_limits("0", "1", 10), (0, 1));
        assert_eq!(resolve_limits("0", "25%", 10), (0, 3));
        assert_eq!(resolve_limits("10%", "0", 3), (1, 0));
        assert_eq!(resolve_limits("0", "0", 3), (0, 1));
        assert_eq!(resolve_limits("0", "0%", 0), (0, 1));
    }
}
