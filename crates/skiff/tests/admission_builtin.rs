//! Upstream's built-in admission plugins LimitRanger, PodSecurity and ResourceQuota, against
//! a real server driven by real kubectl. Pods need no node here: they stay Pending.
//! Every refused request must leave nothing behind.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn server() -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")))
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `kubectl create -f -` of `yaml`, which must fail with `want` in its error.
fn refused(k: &Kubectl, yaml: &str, want: &str) {
    let out = k.run_stdin(&["create", "-f", "-"], yaml);
    assert!(!out.status.success(), "create succeeded: {yaml}");
    let err = stderr(&out);
    assert!(err.contains("(Forbidden)"), "not Forbidden: {err}");
    assert!(err.contains(want), "want {want:?} in: {err}");
}

fn absent(k: &Kubectl, ns: &str, kind_name: &str) {
    let out = k.run(&["get", kind_name, "-n", ns]);
    assert!(
        stderr(&out).contains("NotFound"),
        "{kind_name} exists after a refused create: {}",
        stderr(&out)
    );
}

/// Waits until the quota controller has written `status.used` for `pods`.
fn wait_quota_ready(k: &Kubectl, ns: &str, name: &str, jsonpath: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = k.ok(&[
            "get",
            "quota",
            name,
            "-n",
            ns,
            "-o",
            &format!("jsonpath={jsonpath}"),
        ]);
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "quota {name}: {got:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn pod(name: &str, ns: &str, extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  containers:\n  - name: app\n    image: nginx\n{extra}"
    )
}

#[test]
fn resource_quota_refuses_what_exceeds_hard_and_charges_atomically() {
    let s = server();
    let k = s.kubectl();
    k.ok(&["create", "namespace", "team"]);
    k.ok(&["create", "quota", "q", "-n", "team", "--hard=pods=2"]);
    wait_quota_ready(&k, "team", "q", "{.status.used.pods}", "0");
    k.ok(&["run", "p1", "-n", "team", "--image=nginx"]);
    k.ok(&["run", "p2", "-n", "team", "--image=nginx"]);
    refused(
        &k,
        &pod("p3", "team", ""),
        r#"pods "p3" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"#,
    );
    absent(&k, "team", "pod/p3");
    wait_quota_ready(&k, "team", "q", "{.status.used.pods}", "2");

    // Racing creates: the quota's compare-and-swap lets exactly three through (the
    // namespace's kube-root-ca.crt is its first config map).
    k.ok(&["create", "namespace", "race"]);
    k.ok(&[
        "create",
        "quota",
        "q",
        "-n",
        "race",
        "--hard=pods=3,count/configmaps=4",
    ]);
    let used = "{.status.used.pods}/{.status.used.count/configmaps}";
    wait_quota_ready(&k, "race", "q", used, "0/1");
    let race = |what: &[&str]| -> usize {
        std::thread::scope(|t| {
            let runs: Vec<_> = (0..8)
                .map(|i| {
                    let k = &k;
                    let name = format!("r{i}");
                    // `NAME` in the command line is each racer's object name.
                    let args: Vec<String> = what
                        .iter()
                        .map(|a| {
                            if *a == "NAME" {
                                name.clone()
                            } else {
                                a.to_string()
                            }
                        })
                        .collect();
                    t.spawn(move || {
                        let args: Vec<&str> = args.iter().map(String::as_str).collect();
                        k.run(&args).status.success()
                    })
                })
                .collect();
            runs.into_iter()
                .map(|r| usize::from(r.join().unwrap_or(false)))
                .sum()
        })
    };
    let pods = race(&["run", "NAME", "-n", "race", "--image=nginx"]);
    let maps = race(&["create", "configmap", "NAME", "-n", "race"]);
    assert_eq!((pods, maps), (3, 3));
    let listed = k.ok(&["get", "pods,configmaps", "-n", "race", "-o", "name"]);
    assert_eq!(listed.lines().count(), 3 + 4, "{listed}");
    assert_eq!(
        k.ok(&[
            "get",
            "quota",
            "q",
            "-n",
            "race",
            "-o",
            &format!("jsonpath={used}")
        ]),
        "3/4"
    );

    // A quota on requests.cpu makes every container name its request.
    k.ok(&["create", "namespace", "cpu"]);
    k.ok(&["create", "quota", "q", "-n", "cpu", "--hard=requests.cpu=1"]);
    wait_quota_ready(&k, "cpu", "q", "{.status.used.requests\\.cpu}", "0");
    refused(
        &k,
        &pod("bare", "cpu", ""),
        r#"pods "bare" is forbidden: failed quota: q: must specify requests.cpu for: app"#,
    );
    absent(&k, "cpu", "pod/bare");
    let sized = |name: &str, cpu: &str| {
        pod(
            name,
            "cpu",
            &format!("    resources: {{requests: {{cpu: {cpu}}}}}\n"),
        )
    };
    k.ok_stdin(&["create", "-f", "-"], &sized("small", "700m"));
    refused(
        &k,
        &sized("big", "500m"),
        "exceeded quota: q, requested: requests.cpu=500m, used: requests.cpu=700m, limited: requests.cpu=1",
    );
    absent(&k, "cpu", "pod/big");
    assert_eq!(
        k.ok(&[
            "get",
            "quota",
            "q",
            "-n",
            "cpu",
            "-o",
            "jsonpath={.status.used.requests\\.cpu}"
        ]),
        "700m"
    );
}

#[test]
fn limit_range_defaults_and_bounds_containers() {
    let s = server();
    let k = s.kubectl();
    k.ok(&["create", "namespace", "lr"]);
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: v1\nkind: LimitRange\nmetadata: {name: lr, namespace: lr}\nspec:\n  limits:\n  - type: Container\n    default: {cpu: 500m, memory: 128Mi}\n    defaultRequest: {cpu: 100m, memory: 64Mi}\n    max: {cpu: \"1\"}\n",
    );
    k.ok(&["run", "app", "-n", "lr", "--image=nginx"]);
    let stored = k.ok(&[
        "get",
        "pod",
        "app",
        "-n",
        "lr",
        "-o",
        "jsonpath={.spec.containers[0].resources.requests.cpu} {.spec.containers[0].resources.requests.memory} {.spec.containers[0].resources.limits.cpu} {.spec.containers[0].resources.limits.memory}|{.metadata.annotations.kubernetes\\.io/limit-ranger}",
    ]);
    assert_eq!(
        stored,
        "100m 64Mi 500m 128Mi|LimitRanger plugin set: cpu, memory request for container app; cpu, memory limit for container app"
    );
    refused(
        &k,
        &pod("big", "lr", "    resources: {limits: {cpu: \"2\"}}\n"),
        r#"pods "big" is forbidden: maximum cpu usage per Container is 1, but limit is 2"#,
    );
    absent(&k, "lr", "pod/big");
}

const COMPLIANT: &str = "  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  containers:\n  - name: app\n    image: nginx\n    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n";

#[test]
fn pod_security_enforces_and_warns() {
    let s = server();
    let k = s.kubectl();
    k.ok(&["create", "namespace", "secure"]);
    k.ok(&[
        "label",
        "namespace",
        "secure",
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    refused(
        &k,
        &pod(
            "priv",
            "secure",
            "    securityContext: {privileged: true}\n",
        ),
        concat!(
            r#"pods "priv" is forbidden: violates PodSecurity "restricted:latest": "#,
            r#"privileged (container "app" must not set securityContext.privileged=true), "#,
            r#"allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false), "#,
            r#"unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]), "#,
            r#"runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true), "#,
            r#"seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
        ),
    );
    absent(&k, "secure", "pod/priv");
    let good = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: good, namespace: secure}}\nspec:\n{COMPLIANT}");
    let out = k.run_stdin(&["create", "-f", "-"], &good);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Warning"), "{}", stderr(&out));

    // A workload is only warned about: its pods are checked when they are created.
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: secure}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: app\n        image: nginx\n";
    let out = k.run_stdin(&["create", "-f", "-"], deploy);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"Warning: would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false"#),
        "{}",
        stderr(&out)
    );

    // warn: admitted, with kubectl printing the warning.
    k.ok(&["create", "namespace", "loose"]);
    k.ok(&[
        "label",
        "namespace",
        "loose",
        "pod-security.kubernetes.io/warn=baseline",
    ]);
    let out = k.run_stdin(
        &["create", "-f", "-"],
        &pod("priv", "loose", "    securityContext: {privileged: true}\n"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(r#"Warning: would violate PodSecurity "baseline:latest": privileged (container "app" must not set securityContext.privileged=true)"#),
        "{}",
        stderr(&out)
    );
    k.ok(&["get", "pod", "priv", "-n", "loose"]);

    // Raising enforce names the existing pods the new level would refuse; they stay.
    let out = k.run(&[
        "label",
        "namespace",
        "loose",
        "pod-security.kubernetes.io/enforce=baseline",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(r#"Warning: existing pods in namespace "loose" violate the new PodSecurity enforce level "baseline:latest""#)
            && err.contains("Warning: priv: privileged"),
        "{err}"
    );
    k.ok(&["get", "pod", "priv", "-n", "loose"]);

    // A label that names no level is refused, and the namespace keeps its labels.
    let out = k.run(&[
        "label",
        "--overwrite",
        "namespace",
        "loose",
        "pod-security.kubernetes.io/enforce=strict",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(r#"namespaces "loose" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        k.ok(&[
            "get",
            "namespace",
            "loose",
            "-o",
            "jsonpath={.metadata.labels.pod-security\\.kubernetes\\.io/enforce}"
        ]),
        "baseline"
    );
}

/// An update is charged what it adds: turning a ClusterIP service into a NodePort one past
/// `services.nodeports` is refused and changes nothing.
#[test]
fn resource_quota_charges_updates() {
    let s = server();
    let k = s.kubectl();
    k.ok(&["create", "namespace", "upd"]);
    k.ok(&[
        "create",
        "quota",
        "ports",
        "-n",
        "upd",
        "--hard=services.nodeports=1",
    ]);
    wait_quota_ready(
        &k,
        "upd",
        "ports",
        "{.status.used.services\\.nodeports}",
        "0",
    );
    k.ok(&[
        "create",
        "service",
        "nodeport",
        "taken",
        "-n",
        "upd",
        "--tcp=80:80",
    ]);
    k.ok(&[
        "create",
        "service",
        "clusterip",
        "plain",
        "-n",
        "upd",
        "--tcp=80:80",
    ]);
    wait_quota_ready(
        &k,
        "upd",
        "ports",
        "{.status.used.services\\.nodeports}",
        "1",
    );
    let err = k.fails(&[
        "patch",
        "service",
        "plain",
        "-n",
        "upd",
        "--type=merge",
        "-p",
        r#"{"spec":{"type":"NodePort"}}"#,
    ]);
    assert!(
        err.contains("exceeded quota: ports, requested: services.nodeports=1, used: services.nodeports=1, limited: services.nodeports=1"),
        "{err}"
    );
    assert_eq!(
        k.ok(&[
            "get",
            "service",
            "plain",
            "-n",
            "upd",
            "-o",
            "jsonpath={.spec.type}"
        ]),
        "ClusterIP"
    );
}
