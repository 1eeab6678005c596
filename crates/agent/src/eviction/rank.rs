//! Which pod goes first when the node runs short, as upstream's kubelet ranks them: pods
//! using more than they requested before those within their requests, then lower priority
//! first, then the largest use above the request. BestEffort pods request nothing, so any
//! use exceeds it and they go first among equals. Pure.

use std::cmp::Ordering;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub uid: String,
    pub name: String,
    pub priority: i32,
    /// Use of the starved resource (bytes or count).
    pub usage: u64,
    pub request: u64,
    /// Critical pods (system-node-critical, static) are never evicted.
    pub critical: bool,
}

fn exceeds(c: &Candidate) -> bool {
    c.usage > c.request
}

fn order(a: &Candidate, b: &Candidate) -> Ordering {
    exceeds(b)
        .cmp(&exceeds(a))
        .then(a.priority.cmp(&b.priority))
        .then_with(|| {
            let over = |c: &Candidate| c.usage as i128 - c.request as i128;
            over(b).cmp(&over(a))
        })
        .then_with(|| a.name.cmp(&b.name))
}

/// The candidates in eviction order, critical pods left out.
pub fn rank(mut pods: Vec<Candidate>) -> Vec<Candidate> {
    pods.retain(|c| !c.critical);
    pods.sort_by(order);
    pods
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, priority: i32, usage: u64, request: u64) -> Candidate {
        Candidate {
            uid: name.into(),
            name: name.into(),
            priority,
            usage,
            request,
            critical: name.starts_with("critical"),
        }
    }

    #[test]
    fn order_of_eviction() {
        let cases = [
            // Over its request goes before within it, even when using less.
            (
                vec![c("within", 0, 900, 1000), c("over", 0, 200, 100)],
                "over within",
            ),
            // Among pods over their requests, lower priority first.
            (
                vec![c("high", 1000, 900, 0), c("low", 0, 10, 0)],
                "low high",
            ),
            // Same priority: the larger excess first.
            (
                vec![c("small", 0, 110, 100), c("big", 0, 500, 100)],
                "big small",
            ),
            // BestEffort (no request) before a Burstable pod within its request.
            (
                vec![c("burstable", 0, 50, 100), c("besteffort", 0, 1, 0)],
                "besteffort burstable",
            ),
            // Critical pods are never chosen.
            (
                vec![c("critical-dns", 0, 1 << 30, 0), c("app", 0, 1, 0)],
                "app",
            ),
        ];
        for (pods, want) in cases {
            let got: Vec<String> = rank(pods).into_iter().map(|c| c.name).collect();
            assert_eq!(got.join(" "), want);
        }
    }
}
