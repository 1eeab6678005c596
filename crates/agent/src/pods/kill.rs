//! Stopping a pod: its containers with the grace period, then its sandbox (which tears
//! down the network), then removing the sandbox.

use k8s_openapi::api::core::v1::Pod;

use super::sandbox::POD_UID;
use crate::cri::Cri;
use crate::Error;

/// The grace period of a pod being deleted: the deletion's, else the spec's, else 30 s.
pub fn grace_seconds(pod: &Pod) -> i64 {
    pod.metadata
        .deletion_grace_period_seconds
        .or_else(|| {
            pod.spec
                .as_ref()
                .and_then(|s| s.termination_grace_period_seconds)
        })
        .unwrap_or(30)
        .max(0)
}

/// Stops and removes everything the runtime has for the pod with this uid. Idempotent.
pub async fn kill(cri: &Cri, uid: &str, grace: i64) -> Result<(), Error> {
    if uid.is_empty() {
        // An empty label value would select sandboxes that are not a pod's.
        return Ok(());
    }
    for sandbox in cri.sandboxes_labelled(POD_UID, uid).await? {
        let containers = cri.containers_in(&sandbox.id).await?;
        let stops = containers.iter().map(|c| cri.stop_container(&c.id, grace));
        for r in futures::future::join_all(stops).await {
            r?;
        }
        cri.stop_sandbox(&sandbox.id).await?;
        cri.remove_sandbox(&sandbox.id).await?;
    }
    crate::cgroups::remove(uid);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grace() {
        let cases = [
            (
                serde_json::json!({"metadata": {}, "spec": {"containers": []}}),
                30,
            ),
            (
                serde_json::json!({"metadata": {}, "spec": {"containers": [], "terminationGracePeriodSeconds": 5}}),
                5,
            ),
            (
                serde_json::json!({"metadata": {"deletionGracePeriodSeconds": 0}, "spec": {"containers": [], "terminationGracePeriodSeconds": 5}}),
                0,
            ),
        ];
        for (pod, want) in cases {
            let pod: Pod = serde_json::from_value(pod.clone()).unwrap();
            assert_eq!(grace_seconds(&pod), want);
        }
    }
}
