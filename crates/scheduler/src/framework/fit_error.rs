//! Why a pod fits nowhere, worded as upstream's FitError:
//! "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint {gpu: x}."

use std::collections::BTreeMap;

use super::fast_hash::FastSet;

use super::interface::NodeToStatus;

#[derive(Debug, Default, Clone)]
pub struct Diagnosis {
    /// The Filter status of every node that did not fit (when the pod fits nowhere).
    pub node_to_status: NodeToStatus,
    /// When the pod fits somewhere: how many nodes Filter rejected (their statuses are not
    /// kept).
    pub rejected_uncounted: usize,
    /// Plugins that rejected the pod somewhere (the queue moves it on their events).
    pub unschedulable_plugins: FastSet<&'static str>,
    /// Set when a PreFilter plugin rejected the pod outright.
    pub pre_filter_msg: Option<String>,
    /// What PostFilter (preemption) had to say.
    pub post_filter_msg: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FitError {
    pub num_all_nodes: usize,
    pub diagnosis: Diagnosis,
}

impl FitError {
    pub fn message(&self) -> String {
        if self.num_all_nodes == 0 {
            return "no nodes available to schedule pods".into();
        }
        let mut msg = format!("0/{} nodes are available:", self.num_all_nodes);
        match &self.diagnosis.pre_filter_msg {
            // The same PreFilter status sits on every node; say it once.
            Some(m) => {
                msg.push(' ');
                msg.push_str(m);
                msg.push('.');
            }
            None => {
                let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
                for s in self.diagnosis.node_to_status.values() {
                    for r in s.reasons() {
                        *histogram.entry(r.as_ref()).or_default() += 1;
                    }
                }
                let mut parts: Vec<String> =
                    histogram.iter().map(|(r, n)| format!("{n} {r}")).collect();
                parts.sort();
                msg.push(' ');
                msg.push_str(&parts.join(", "));
                msg.push('.');
            }
        }
        if let Some(m) = self
            .diagnosis
            .post_filter_msg
            .as_ref()
            .filter(|m| !m.is_empty())
        {
            msg.push(' ');
            msg.push_str(m);
            msg.push('.');
        }
        msg
    }
}
