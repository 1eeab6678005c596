//! ResourceQuota status: `used` follows the namespace's pods and config maps.

mod simkit;

use std::time::Duration;

use simkit::{bin, get, wait_for, Sim};
use testkit::{Kubectl, Server};

const QUOTA: &str = r#"
apiVersion: v1
kind: ResourceQuota
metadata: {name: q, namespace: team}
spec:
  hard: {pods: "10", configmaps: "5", count/configmaps: "5", requests.cpu: "4", requests.memory: 4Gi, limits.memory: 8Gi}
"#;

fn pod(name: &str, behavior: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: team, annotations: {{sim.skiff.dev/behavior: "{behavior}"}}}}
spec:
  restartPolicy: Never
  containers:
  - name: app
    image: nginx
    resources: {{requests: {{cpu: 250m, memory: 64Mi}}, limits: {{memory: 128Mi}}}}
"#
    )
}

fn used(k: &Kubectl) -> String {
    get(
        k,
        &[
            "get",
            "quota",
            "q",
            "-n",
            "team",
            "-o",
            "jsonpath=pods={.status.used.pods} cm={.status.used.configmaps}/{.status.used.count/configmaps} cpu={.status.used.requests\\.cpu} mem={.status.used.requests\\.memory} lim={.status.used.limits\\.memory}",
        ],
    )
}

#[test]
fn quota_usage_follows_pods_and_config_maps() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let sim = Sim::start(&server, 1);
    k.ok(&["create", "namespace", "team"]);
    k.ok_stdin(&["apply", "-f", "-"], QUOTA);

    let expect = |want: &str| {
        wait_for(want, Duration::from_secs(20), &sim, || {
            let got = used(&k);
            (got != want).then_some(got)
        })
    };
    // The namespace's kube-root-ca.crt is its one config map.
    expect("pods=0 cm=1/1 cpu=0 mem=0 lim=0");
    let hard = k.ok(&[
        "get",
        "quota",
        "q",
        "-n",
        "team",
        "-o",
        "jsonpath={.status.hard.requests\\.memory} {.status.hard.pods}",
    ]);
    assert_eq!(hard, "4Gi 10");

    k.ok_stdin(&["apply", "-f", "-"], &pod("a", "run"));
    k.ok_stdin(&["apply", "-f", "-"], &pod("b", "run"));
    k.ok(&[
        "create",
        "configmap",
        "c1",
        "-n",
        "team",
        "--from-literal=k=v",
    ]);
    k.ok(&[
        "create",
        "configmap",
        "c2",
        "-n",
        "team",
        "--from-literal=k=v",
    ]);
    expect("pods=2 cm=3/3 cpu=500m mem=128Mi lim=256Mi");

    // A pod that ran to completion no longer uses quota.
    k.ok_stdin(&["apply", "-f", "-"], &pod("once", "succeed-after=3s"));
    expect("pods=3 cm=3/3 cpu=750m mem=192Mi lim=384Mi");
    expect("pods=2 cm=3/3 cpu=500m mem=128Mi lim=256Mi");

    k.ok(&["delete", "pod", "a", "-n", "team", "--wait=false"]);
    k.ok(&["delete", "configmap", "c1", "-n", "team"]);
    expect("pods=1 cm=2/2 cpu=250m mem=64Mi lim=128Mi");

    let described = k.ok(&["describe", "quota", "q", "-n", "team"]);
    assert!(
        described
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["requests.cpu", "250m", "4"]),
        "{described}"
    );
}
