//! VolumeBinding with the real scheduler and a simulated node: missing and unbound
//! immediate claims keep a pod Pending with upstream's words; a WaitForFirstConsumer claim
//! lets it schedule and tells the provisioner where it landed.

use std::path::Path;
use std::time::Duration;

use testkit::{eventually, Kubectl, Server, Sim};

fn get(k: &Kubectl, args: &[&str]) -> String {
    String::from_utf8_lossy(&k.run(args).stdout).into_owned()
}

fn pod_with_claim(k: &Kubectl, name: &str, claim: &str) {
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - {{name: c, image: busybox}}\n  volumes:\n  - name: data\n    persistentVolumeClaim: {{claimName: {claim}}}\n"),
    );
}

fn claim(k: &Kubectl, name: &str, class: &str) {
    k.ok_stdin(
        &["create", "-f", "-"],
        &format!("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {{name: {name}}}\nspec:\n  storageClassName: {class}\n  accessModes: [ReadWriteOnce]\n  resources: {{requests: {{storage: 1Gi}}}}\n"),
    );
}

fn scheduled_message(k: &Kubectl, pod: &str, want: &str) -> String {
    eventually(
        &format!("{pod} says {want}"),
        Duration::from_secs(20),
        || {
            get(
                k,
                &[
                    "get",
                    "pod",
                    pod,
                    "-o",
                    "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].message}",
                ],
            )
        },
        |m| m.contains(want),
    )
}

#[test]
fn claims_decide_where_pods_go() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();
    let _sim = Sim::start(&s, 1, &[]);
    eventually(
        "a Ready node",
        Duration::from_secs(30),
        || get(&k, &["get", "nodes", "--no-headers"]),
        |o| o.contains(" Ready "),
    );
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: late}\nprovisioner: csi.example.com\nvolumeBindingMode: WaitForFirstConsumer\n---\napiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata: {name: now}\nprovisioner: csi.example.com\nvolumeBindingMode: Immediate\n",
    );

    pod_with_claim(&k, "waits", "data");
    let msg = scheduled_message(&k, "waits", "not found");
    assert!(
        msg.starts_with(r#"0/1 nodes are available: persistentvolumeclaim "data" not found."#),
        "{msg}"
    );

    // The claim appears: the pod is tried again at once and lands; the claim learns where.
    claim(&k, "data", "late");
    let node = eventually(
        "waits bound",
        Duration::from_secs(20),
        || {
            get(
                &k,
                &["get", "pod", "waits", "-o", "jsonpath={.spec.nodeName}"],
            )
        },
        |n| !n.is_empty(),
    );
    assert_eq!(node, "sim-0");
    assert_eq!(
        get(
            &k,
            &[
                "get",
                "pvc",
                "data",
                "-o",
                "jsonpath={.metadata.annotations.volume\\.kubernetes\\.io/selected-node}"
            ]
        ),
        "sim-0"
    );

    claim(&k, "eager", "now");
    pod_with_claim(&k, "eager-pod", "eager");
    scheduled_message(
        &k,
        "eager-pod",
        "pod has unbound immediate PersistentVolumeClaims",
    );
}
