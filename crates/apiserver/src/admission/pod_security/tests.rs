use expect_test::{expect, Expect};
use serde_json::{json, Value};

use super::*;

/// The pod's violations at `level`, one line per check.
fn check(level: Level, pod: Value, want: Expect) {
    let found = evaluate(level, &pod["metadata"], &pod["spec"]);
    let text: Vec<String> = found
        .iter()
        .map(|v| format!("{} ({})", v.reason, v.detail))
        .collect();
    want.assert_eq(&text.join("\n"));
}

fn app(sc: Value) -> Value {
    json!({"metadata": {}, "spec": {"containers": [{"name": "app", "image": "i", "securityContext": sc}]}})
}

fn compliant() -> Value {
    json!({"metadata": {}, "spec": {
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "app", "image": "i", "securityContext": {
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]}})
}

#[test]
fn plain_pod() {
    let pod = json!({"metadata": {}, "spec": {"containers": [{"name": "app", "image": "i"}]}});
    check(Level::Privileged, pod.clone(), expect![""]);
    check(Level::Baseline, pod.clone(), expect![""]);
    check(
        Level::Restricted,
        pod,
        expect![[r#"
            allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false)
            unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"])
            runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)
            seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#]],
    );
    check(Level::Restricted, compliant(), expect![""]);
}

#[test]
fn baseline_checks() {
    check(
        Level::Baseline,
        json!({"metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}},
            "spec": {"hostNetwork": true, "hostPID": true,
            "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}, {"name": "net.ipv4.tcp_syncookies", "value": "1"}],
                "seLinuxOptions": {"type": "spc_t"}},
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}, {"name": "tmp", "emptyDir": {}}],
            "containers": [
                {"name": "a", "securityContext": {"privileged": true, "capabilities": {"add": ["NET_ADMIN", "CHOWN"]}, "procMount": "Unmasked", "seccompProfile": {"type": "Unconfined"}},
                 "ports": [{"containerPort": 80, "hostPort": 80}]},
                {"name": "b", "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_TIME"]}},
                 "ports": [{"containerPort": 81, "hostPort": 81}, {"containerPort": 82}]}]}}),
        expect![[r#"
            forbidden AppArmor profile (container.apparmor.security.beta.kubernetes.io/app="unconfined")
            non-default capabilities (containers "a", "b" must not include "NET_ADMIN", "SYS_TIME" in securityContext.capabilities.add)
            host namespaces (hostNetwork=true, hostPID=true)
            hostPath volumes (volume "root")
            hostPort (containers "a", "b" use hostPorts 80, 81)
            privileged (containers "a", "b" must not set securityContext.privileged=true)
            procMount (container "a" must not set securityContext.procMount to "Unmasked")
            seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t")
            seccompProfile (container "a" must not set securityContext.seccompProfile.type to "Unconfined")
            forbidden sysctls (kernel.msgmax)"#]],
    );
    // What Baseline allows: default capabilities, RuntimeDefault, container_t, safe sysctls.
    check(
        Level::Baseline,
        json!({"metadata": {}, "spec": {
            "securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_port_range", "value": "1 2"}]},
            "containers": [{"name": "a", "securityContext": {"capabilities": {"add": ["CHOWN", "NET_BIND_SERVICE"]},
                "procMount": "Default", "seLinuxOptions": {"type": "container_t"}, "appArmorProfile": {"type": "RuntimeDefault"},
                "seccompProfile": {"type": "RuntimeDefault"}, "privileged": false}}]}}),
        expect![""],
    );
}

#[test]
fn seccomp_profiles() {
    let pod = |pod_type: Value, a: Value, b: Value| {
        json!({"metadata": {}, "spec": {"securityContext": {"seccompProfile": pod_type},
            "containers": [
                {"name": "a", "securityContext": {"seccompProfile": a}},
                {"name": "b", "securityContext": {"seccompProfile": b}}]}})
    };
    let only_seccomp = |p: Value| {
        evaluate(Level::Restricted, &p["metadata"], &p["spec"])
            .into_iter()
            .filter(|v| v.reason == "seccompProfile")
            .map(|v| v.detail)
            .collect::<Vec<_>>()
            .join("\n")
    };
    expect![[r#"pod and container "a" must not set securityContext.seccompProfile.type to "Unconfined", "bogus""#]]
        .assert_eq(&only_seccomp(pod(json!({"type": "Unconfined"}), json!({"type": "bogus"}), Value::Null)));
    expect![[r#"pod or container "b" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#]]
        .assert_eq(&only_seccomp(pod(Value::Null, json!({"type": "RuntimeDefault"}), Value::Null)));
    expect![""].assert_eq(&only_seccomp(pod(
        json!({"type": "Localhost"}),
        Value::Null,
        json!({"type": "RuntimeDefault"}),
    )));
    check(
        Level::Baseline,
        pod(
            json!({"type": "Unconfined"}),
            json!({"type": "Unconfined"}),
            json!({"type": "Unconfined"}),
        ),
        expect![[
            r#"seccompProfile (pod and containers "a", "b" must not set securityContext.seccompProfile.type to "Unconfined")"#
        ]],
    );
}

#[test]
fn selinux_options() {
    check(
        Level::Baseline,
        json!({"metadata": {}, "spec": {"securityContext": {"seLinuxOptions": {"user": "u"}},
            "containers": [
                {"name": "a", "securityContext": {"seLinuxOptions": {"type": "spc_t"}}},
                {"name": "b", "securityContext": {"seLinuxOptions": {"role": "r", "type": "container_t"}}},
                {"name": "c", "securityContext": {"seLinuxOptions": {"type": "container_init_t", "level": "s0:c1"}}}]}}),
        expect![[
            r#"seLinuxOptions (pod and containers "a", "b" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set; role may not be set)"#
        ]],
    );
}

#[test]
fn restricted_checks() {
    let mut pod = compliant();
    pod["spec"]["volumes"] = json!([{"name": "h", "hostPath": {"path": "/"}}, {"name": "n", "nfs": {"server": "s", "path": "/"}}, {"name": "c", "configMap": {"name": "x"}}]);
    check(
        Level::Restricted,
        pod,
        expect![[
            r#"restricted volume types (volumes "h", "n" use restricted volume types "hostPath", "nfs")"#
        ]],
    );
    check(
        Level::Restricted,
        app(
            json!({"allowPrivilegeEscalation": false, "runAsNonRoot": false, "runAsUser": 0,
            "seccompProfile": {"type": "Unconfined"}, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE", "SYS_ADMIN"]}}),
        ),
        expect![[r#"
            unrestricted capabilities (container "app" must not include "SYS_ADMIN" in securityContext.capabilities.add)
            runAsNonRoot != true (container "app" must not set securityContext.runAsNonRoot=false)
            runAsUser=0 (container "app" must not set runAsUser=0)
            seccompProfile (container "app" must not set securityContext.seccompProfile.type to "Unconfined")"#]],
    );
    // Windows pods skip the Linux-only checks, not runAsNonRoot.
    check(
        Level::Restricted,
        json!({"metadata": {}, "spec": {"os": {"name": "windows"}, "containers": [{"name": "app", "image": "i"}]}}),
        expect![[
            r#"runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)"#
        ]],
    );
    // Container-level runAsNonRoot and seccomp profile are enough; a non-zero user is not
    // a substitute for runAsNonRoot.
    check(
        Level::Restricted,
        app(json!({"allowPrivilegeEscalation": false, "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"}, "capabilities": {"drop": ["ALL"]}})),
        expect![[
            r#"runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)"#
        ]],
    );
    check(
        Level::Restricted,
        app(
            json!({"allowPrivilegeEscalation": false, "runAsNonRoot": true,
            "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}, "capabilities": {"drop": ["ALL"]}}),
        ),
        expect![""],
    );
}

fn ns(labels: Value) -> Value {
    json!({"metadata": {"name": "ns", "labels": labels}})
}

#[test]
fn policy_from_labels() {
    let cases = [
        (json!({}), "privileged:latest privileged:latest"),
        (
            json!({"pod-security.kubernetes.io/enforce": "restricted"}),
            "restricted:latest restricted:latest",
        ),
        (
            json!({"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/enforce-version": "v1.30",
                "pod-security.kubernetes.io/warn": "restricted"}),
            "baseline:v1.30 restricted:latest",
        ),
        (
            json!({"pod-security.kubernetes.io/enforce": "bogus", "pod-security.kubernetes.io/enforce-version": "x"}),
            "restricted:latest restricted:latest",
        ),
        (
            json!({"pod-security.kubernetes.io/warn": "baseline"}),
            "privileged:latest baseline:latest",
        ),
    ];
    for (labels, want) in cases {
        let p = policy(&ns(labels.clone()));
        assert_eq!(
            format!("{} {}", p.enforce.label(), p.warn.label()),
            want,
            "{labels}"
        );
    }
}

#[test]
fn admission_outcomes() {
    let restricted = policy(&ns(
        json!({"pod-security.kubernetes.io/enforce": "restricted"}),
    ));
    let privileged_pod = app(json!({"privileged": true}));
    expect![[r#"Err("violates PodSecurity \"restricted:latest\": privileged (container \"app\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container \"app\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"app\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"app\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"app\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")")"#]]
        .assert_eq(&format!("{:?}", admit_pod(&restricted, &privileged_pod)));
    assert_eq!(admit_pod(&restricted, &compliant()), Ok(vec![]));

    let warn = policy(&ns(json!({"pod-security.kubernetes.io/warn": "baseline"})));
    expect![[r#"Ok(["would violate PodSecurity \"baseline:latest\": privileged (container \"app\" must not set securityContext.privileged=true)"])"#]]
        .assert_eq(&format!("{:?}", admit_pod(&warn, &privileged_pod)));

    // A Deployment in an enforcing namespace is only warned about.
    let deploy = json!({"spec": {"template": privileged_pod}});
    expect![[r#"["would violate PodSecurity \"baseline:latest\": privileged (container \"app\" must not set securityContext.privileged=true)"]"#]]
        .assert_eq(&format!("{:?}", admit_workload(&policy(&ns(json!({"pod-security.kubernetes.io/enforce": "baseline"}))), "apps", "deployments", &deploy)));
    assert!(admit_workload(&restricted, "", "services", &deploy).is_empty());
}

#[test]
fn raising_enforce_warns_about_existing_pods() {
    let old = ns(json!({}));
    let new = ns(json!({"pod-security.kubernetes.io/enforce": "baseline"}));
    let named = |name: &str, sc: Value| {
        let mut p = app(sc);
        p["metadata"]["name"] = json!(name);
        p
    };
    let pods = [
        named("c", json!({"privileged": true})),
        named("a", json!({"privileged": true})),
        named("b", json!({})),
        named("d", json!({"privileged": true, "procMount": "Unmasked"})),
    ];
    expect![[r#"
        existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest"
        a (and 1 other pod): privileged
        d: privileged, procMount"#]]
    .assert_eq(&namespace_update_warnings(&new, &old, &pods).join("\n"));
    assert!(namespace_update_warnings(&new, &new, &pods).is_empty());
    assert!(namespace_update_warnings(&old, &new, &pods).is_empty());
}

#[test]
fn label_values_must_name_a_level() {
    let errs = invalid_labels(&ns(json!({
        "pod-security.kubernetes.io/enforce": "strict",
        "pod-security.kubernetes.io/warn": "baseline",
        "pod-security.kubernetes.io/warn-version": "whenever",
    })));
    expect![[r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#]]
        .assert_eq(&errs.iter().map(|e| e.message()).collect::<Vec<_>>().join("\n"));
}
