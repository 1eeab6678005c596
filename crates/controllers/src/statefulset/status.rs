//! StatefulSet status as upstream computes it from the pods it owns.

use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;

use crate::history::HASH_LABEL;
use crate::podinfo;

pub fn running_and_ready(pod: &Pod) -> bool {
    podinfo::phase(pod) == "Running" && podinfo::is_ready(pod)
}

pub fn revision_of(pod: &Pod) -> &str {
    pod.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(HASH_LABEL))
        .map(String::as_str)
        .unwrap_or("")
}

pub struct Revisions<'a> {
    pub current: &'a str,
    pub update: &'a str,
    pub collision_count: i32,
}

pub fn compute(
    set: &StatefulSet,
    pods: &[Pod],
    revs: &Revisions<'_>,
    now: Timestamp,
) -> StatefulSetStatus {
    let spec = set.spec.clone();
    let min_ready = spec.min_ready_seconds.unwrap_or(0);
    let mut st = StatefulSetStatus {
        observed_generation: set.metadata.generation,
        current_revision: Some(revs.current.into()),
        update_revision: Some(revs.update.into()),
        collision_count: Some(revs.collision_count),
        ..Default::default()
    };
    let (mut current, mut updated, mut ready, mut available) = (0, 0, 0, 0);
    for pod in pods {
        let created = !podinfo::phase(pod).is_empty();
        if created {
            st.replicas += 1;
        }
        if running_and_ready(pod) {
            ready += 1;
            if podinfo::is_available(pod, min_ready, now) {
                available += 1;
            }
        }
        if created && pod.metadata.deletion_timestamp.is_none() {
            let rev = revision_of(pod);
            if rev == revs.current {
                current += 1;
            }
            if rev == revs.update {
                updated += 1;
            }
        }
    }
    st.ready_replicas = Some(ready);
    st.available_replicas = Some(available);
    st.current_replicas = Some(current);
    st.updated_replicas = Some(updated);
    // A finished rolling update makes the update revision the current one.
    let wanted = spec.replicas.unwrap_or(1);
    let rolling = spec
        .update_strategy
        .as_ref()
        .and_then(|u| u.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate");
    if rolling && updated == wanted && ready == wanted && st.replicas == wanted {
        st.current_replicas = Some(updated);
        st.current_revision = Some(revs.update.into());
    }
    st
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(rev: &str, phase: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "labels": {"controller-revision-hash": rev}},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}
        }))
        .expect("pod")
    }

    #[test]
    fn counts_and_completion() {
        let set: StatefulSet = serde_json::from_value(json!({
            "metadata": {"name": "web", "generation": 4},
            "spec": {"replicas": 2, "selector": {}, "template": {}, "serviceName": "x",
                     "updateStrategy": {"type": "RollingUpdate"}}
        }))
        .expect("set");
        let revs = Revisions {
            current: "a",
            update: "b",
            collision_count: 0,
        };
        let now = Timestamp::now();
        // (pods, replicas, ready, current, updated, current revision)
        let cases = [
            (
                vec![pod("a", "Running", true), pod("b", "Pending", false)],
                2,
                1,
                1,
                1,
                "a",
            ),
            (
                vec![pod("b", "Running", true), pod("b", "Running", true)],
                2,
                2,
                2,
                2,
                "b",
            ),
            (vec![pod("a", "Running", true)], 1, 1, 1, 0, "a"),
        ];
        for (i, (pods, replicas, ready, current, updated, cur_rev)) in cases.into_iter().enumerate()
        {
            let st = compute(&set, &pods, &revs, now);
            assert_eq!(
                (
                    st.replicas,
                    st.ready_replicas,
                    st.current_replicas,
                    st.updated_replicas,
                    st.current_revision.as_deref()
                ),
                (
                    replicas,
                    Some(ready),
                    Some(current),
                    Some(updated),
                    Some(cur_rev)
                ),
                "case {i}"
            );
            assert_eq!(st.observed_generation, Some(4));
        }
    }
}
