//! Upstream's controller expectations, kept by pod name: the pods a ReplicaSet created or
//! deleted that the shared pod cache does not show yet. Until the cache has caught up, a
//! sync must not create or delete again, or a lagging cache would make it do the same work
//! twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long an expectation is trusted; after this the cache is taken at its word
/// (upstream's `ExpectationsTimeout`), so a lost watch event cannot wedge a ReplicaSet.
pub const TIMEOUT: Duration = Duration::from_secs(300);

/// What the cache shows of one pod name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Absent,
    /// Present with this uid; `deleting` once it has a deletionTimestamp.
    Present {
        uid: String,
        deleting: bool,
    },
}

#[derive(Default)]
struct Pending {
    /// Names of pods created and not yet seen.
    creates: Vec<String>,
    /// (name, uid) of pods deleted and still seen alive.
    deletes: Vec<(String, String)>,
    since: Option<Instant>,
}

#[derive(Default)]
pub struct Expectations {
    by_owner: Mutex<HashMap<String, Pending>>,
}

impl Expectations {
    pub fn expect_creates(&self, owner: &str, names: impl IntoIterator<Item = String>) {
        self.with(owner, |p| p.creates.extend(names));
    }

    pub fn expect_deletes(&self, owner: &str, pods: impl IntoIterator<Item = (String, String)>) {
        self.with(owner, |p| p.deletes.extend(pods));
    }

    /// Whether the cache reflects every create and delete `owner` made; forgets those it
    /// does.
    pub fn satisfied(&self, owner: &str, seen: impl Fn(&str) -> Seen) -> bool {
        let Ok(mut map) = self.by_owner.lock() else {
            return true;
        };
        let Some(p) = map.get_mut(owner) else {
            return true;
        };
        p.creates.retain(|name| seen(name) == Seen::Absent);
        p.deletes.retain(|(name, uid)| {
            matches!(seen(name), Seen::Present { uid: u, deleting: false } if u == *uid)
        });
        let expired = p.since.is_some_and(|t| t.elapsed() > TIMEOUT);
        if expired || (p.creates.is_empty() && p.deletes.is_empty()) {
            map.remove(owner);
            return true;
        }
        false
    }

    /// Drops what is remembered for an owner that is gone.
    pub fn forget(&self, owner: &str) {
        if let Ok(mut map) = self.by_owner.lock() {
            map.remove(owner);
        }
    }

    fn with(&self, owner: &str, f: impl FnOnce(&mut Pending)) {
        if let Ok(mut map) = self.by_owner.lock() {
            let p = map.entry(owner.to_string()).or_default();
            p.since.get_or_insert_with(Instant::now);
            f(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn present(uid: &str, deleting: bool) -> Seen {
        Seen::Present {
            uid: uid.into(),
            deleting,
        }
    }

    #[test]
    fn caught_up_only_when_the_cache_shows_every_change() {
        // (created, deleted, what the cache shows per name, satisfied?)
        type Case = (
            &'static [&'static str],
            &'static [(&'static str, &'static str)],
            Vec<(&'static str, Seen)>,
            bool,
        );
        let cases: Vec<Case> = vec![
            (&[], &[], vec![], true),
            (&["a", "b"], &[], vec![], false),
            (&["a"], &[], vec![], false),
            (&["a"], &[], vec![("a", present("1", false))], true),
            (&[], &[("x", "9")], vec![("x", present("9", false))], false),
            (&[], &[("x", "9")], vec![("x", present("9", true))], true),
            (&[], &[("x", "9")], vec![], true),
            // A new pod under the deleted one's name: the deletion is done.
            (&[], &[("x", "9")], vec![("x", present("10", false))], true),
        ];
        for (created, deleted, cache, want) in cases {
            let e = Expectations::default();
            e.expect_creates("ns/rs", created.iter().map(|s| s.to_string()));
            e.expect_deletes(
                "ns/rs",
                deleted.iter().map(|(n, u)| (n.to_string(), u.to_string())),
            );
            let seen = |name: &str| {
                cache
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map_or(Seen::Absent, |(_, s)| s.clone())
            };
            assert_eq!(
                e.satisfied("ns/rs", seen),
                want,
                "{created:?} {deleted:?} {cache:?}"
            );
        }
    }

    #[test]
    fn satisfied_expectations_are_forgotten() {
        let e = Expectations::default();
        e.expect_creates("ns/rs", ["a".to_string()]);
        assert!(!e.satisfied("ns/rs", |_| Seen::Absent));
        assert!(e.satisfied("ns/rs", |_| present("1", false)));
        // Forgotten: the pod vanishing later does not matter.
        assert!(e.satisfied("ns/rs", |_| Seen::Absent));
    }
}
