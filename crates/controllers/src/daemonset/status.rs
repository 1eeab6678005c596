//! DaemonSet status as upstream counts it, node by node, from the oldest pod on each.

use k8s_openapi::api::apps::v1::DaemonSetStatus;

/// What status needs of one node: whether a pod belongs there, and the oldest non-terminating
/// pod on it (ready, available, updated), if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeCount {
    pub should_run: bool,
    /// `(ready, available, updated)` of the oldest pod.
    pub oldest: Option<(bool, bool, bool)>,
}

pub fn compute(
    nodes: &[NodeCount],
    generation: Option<i64>,
    collision_count: i32,
) -> DaemonSetStatus {
    let mut st = DaemonSetStatus {
        observed_generation: generation,
        collision_count: (collision_count != 0).then_some(collision_count),
        ..Default::default()
    };
    let (mut available, mut updated) = (0, 0);
    for n in nodes {
        match (n.should_run, n.oldest) {
            (true, oldest) => {
                st.desired_number_scheduled += 1;
                if let Some((ready, avail, upd)) = oldest {
                    st.current_number_scheduled += 1;
                    if ready {
                        st.number_ready += 1;
                        if avail {
                            available += 1;
                        }
                    }
                    if upd {
                        updated += 1;
                    }
                }
            }
            (false, Some(_)) => st.number_misscheduled += 1,
            (false, None) => {}
        }
    }
    st.number_available = Some(available);
    st.updated_number_scheduled = Some(updated);
    st.number_unavailable = Some(st.desired_number_scheduled - available);
    st
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_table() {
        let n = |should_run, oldest| NodeCount { should_run, oldest };
        let st = compute(
            &[
                n(true, Some((true, true, true))),
                n(true, Some((true, false, false))),
                n(true, Some((false, false, true))),
                n(true, None),
                n(false, Some((true, true, true))),
                n(false, None),
            ],
            Some(3),
            0,
        );
        assert_eq!(
            (
                st.desired_number_scheduled,
                st.current_number_scheduled,
                st.number_misscheduled,
                st.number_ready,
                st.number_available,
                st.updated_number_scheduled,
                st.number_unavailable,
                st.observed_generation,
            ),
            (4, 3, 1, 2, Some(1), Some(2), Some(3), Some(3))
        );
    }
}
