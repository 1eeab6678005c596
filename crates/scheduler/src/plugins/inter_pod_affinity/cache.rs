//! PreFilter counts kept across cycles: pods of one workload share labels and terms, so
//! successive cycles ask for the same counts; only nodes whose NodeInfo changed since (a
//! new `Arc`) are recounted.

use std::sync::{Arc, Mutex};

use super::{Counts, Kind};
use crate::framework::{NodeInfo, Snapshot};

type Contribution = Vec<(Kind, String, String)>;

struct Entry {
    key: String,
    epoch: u64,
    nodes: Vec<Option<(Arc<NodeInfo>, Contribution)>>,
    counts: Arc<Counts>,
}

#[derive(Default)]
pub struct CountCache {
    entries: Mutex<Vec<Entry>>,
}

const MAX_ENTRIES: usize = 4;

fn apply(counts: &mut Counts, c: &Contribution, sign: i64) {
    for (kind, key, value) in c {
        counts.add(*kind, key, value, sign);
    }
}

impl CountCache {
    /// The counts for `key` over the snapshot; `contribution` says what one node adds.
    pub fn counts(
        &self,
        key: String,
        snapshot: &Snapshot,
        contribution: impl Fn(&NodeInfo) -> Contribution,
    ) -> Arc<Counts> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut entry = match entries.iter().position(|e| e.key == key) {
            Some(i) => entries.remove(i),
            None => Entry {
                key,
                epoch: 0,
                nodes: Vec::new(),
                counts: Arc::default(),
            },
        };
        if entry.epoch != snapshot.epoch() || entry.nodes.len() != snapshot.len() {
            entry.epoch = snapshot.epoch();
            entry.nodes = vec![None; snapshot.len()];
            entry.counts = Arc::default();
        }
        let counts = Arc::make_mut(&mut entry.counts);
        for (i, node) in snapshot.nodes().iter().enumerate() {
            let slot = &mut entry.nodes[i];
            if slot.as_ref().is_some_and(|(n, _)| Arc::ptr_eq(n, node)) {
                continue;
            }
            if let Some((_, old)) = slot.take() {
                apply(counts, &old, -1);
            }
            let c = if node.pods.is_empty() {
                Vec::new()
            } else {
                contribution(node)
            };
            apply(counts, &c, 1);
            *slot = Some((node.clone(), c));
        }
        let out = entry.counts.clone();
        entries.insert(0, entry);
        entries.truncate(MAX_ENTRIES);
        out
    }
}
