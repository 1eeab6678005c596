//! Pod priority as upstream's Priority admission plugin resolves it, PriorityClass rules,
//! and scheduling gates that may only be removed.

use std::path::Path;
use std::time::Duration;

use testkit::{eventually, Kubectl, Server};

fn create(k: &Kubectl, yaml: &str) -> std::process::Output {
    k.run_stdin(&["create", "-f", "-"], yaml)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn pod_yaml(name: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{spec_extra}  containers:\n  - name: c\n    image: busybox\n"
    )
}

#[test]
fn priority_classes_resolve_pod_priority() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();

    // The built-in classes exist from the start.
    let list = k.ok(&["get", "priorityclasses"]);
    assert!(list.contains("system-cluster-critical"), "{list}");
    assert!(list.contains("system-node-critical"), "{list}");
    assert_eq!(
        k.ok(&[
            "get",
            "pc",
            "system-node-critical",
            "-o",
            "jsonpath={.value}"
        ]),
        "2000001000"
    );

    // A user class resolves into the pod's spec.
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n",
    );
    // Admission reads classes from the watch cache; wait until the class is visible there.
    eventually(
        "class high admitted",
        Duration::from_secs(10),
        || create(&k, &pod_yaml("hi", "  priorityClassName: high\n")),
        |out| out.status.success(),
    );
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "hi",
            "-o",
            "jsonpath={.spec.priority} {.spec.preemptionPolicy}"
        ]),
        "1000 PreemptLowerPriority"
    );

    // Without a class: priority 0.
    k.ok_stdin(&["create", "-f", "-"], &pod_yaml("plain", ""));
    assert_eq!(
        k.ok(&["get", "pod", "plain", "-o", "jsonpath={.spec.priority}"]),
        "0"
    );

    // Unknown class, and a priority the client made up.
    let err = stderr(&create(&k, &pod_yaml("x", "  priorityClassName: foo\n")));
    assert!(
        err.contains(r#"pods "x" is forbidden: no PriorityClass with name foo was found"#),
        "{err}"
    );
    let err = stderr(&create(
        &k,
        &pod_yaml("made-up", "  priorityClassName: high\n  priority: 5\n"),
    ));
    assert!(err.contains(r#"pods "made-up" is forbidden: the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"#), "{err}");

    // Class rules: the user ceiling, reserved names, one global default, a fixed value.
    let err = stderr(&create(
        &k,
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: huge}\nvalue: 2000000000\n",
    ));
    assert!(
        err.contains(
            "value: Forbidden: maximum allowed value of a user defined priority is 1000000000"
        ),
        "{err}"
    );
    let err = stderr(&create(
        &k,
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: system-mine}\nvalue: 10\n",
    ));
    assert!(err.contains("priority class names with 'system-' prefix are reserved for system use only. error: system-mine is not a known system priority class"), "{err}");
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: dflt}\nvalue: 7\nglobalDefault: true\n",
    );
    let second = "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: dflt2}\nvalue: 8\nglobalDefault: true\n";
    let out = eventually(
        "second default refused",
        Duration::from_secs(10),
        || create(&k, second),
        |out| !out.status.success(),
    );
    assert!(
        stderr(&out).contains(
            "PriorityClass dflt is already marked as default. Only one default can exist"
        ),
        "{}",
        stderr(&out)
    );
    k.ok_stdin(&["create", "-f", "-"], &pod_yaml("defaulted", ""));
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "defaulted",
            "-o",
            "jsonpath={.spec.priorityClassName} {.spec.priority}"
        ]),
        "dflt 7"
    );
    let err = k.fails(&[
        "patch",
        "pc",
        "high",
        "--type=merge",
        "-p",
        r#"{"value":5}"#,
    ]);
    assert!(
        err.contains("value: Forbidden: may not be changed in an update."),
        "{err}"
    );
    k.ok(&["label", "pod", "hi", "x=y"]);
    let err = k.fails(&["delete", "priorityclass", "system-node-critical"]);
    assert!(err.contains(r#"priorityclasses.scheduling.k8s.io "system-node-critical" is forbidden: this is a system priority class and cannot be deleted"#), "{err}");
    k.ok(&["delete", "priorityclass", "high"]);
}

#[test]
fn scheduling_gates_may_only_be_removed() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();
    k.ok_stdin(
        &["create", "-f", "-"],
        &pod_yaml(
            "gated",
            "  schedulingGates: [{name: example.com/a}, {name: example.com/b}]\n",
        ),
    );
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "gated",
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"PodScheduled\")].status} {.status.conditions[?(@.type==\"PodScheduled\")].reason}"
        ]),
        "False SchedulingGated"
    );
    let err = k.fails(&[
        "patch",
        "pod",
        "gated",
        "--type=json",
        "-p",
        r#"[{"op":"add","path":"/spec/schedulingGates/-","value":{"name":"example.com/c"}}]"#,
    ]);
    assert!(err.contains("spec.schedulingGates[2].name: Forbidden: only deletion is allowed, but found new scheduling gate 'example.com/c'"), "{err}");
    k.ok(&[
        "patch",
        "pod",
        "gated",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/spec/schedulingGates/0"}]"#,
    ]);
    k.ok(&[
        "patch",
        "pod",
        "gated",
        "--type=merge",
        "-p",
        r#"{"spec":{"schedulingGates":null}}"#,
    ]);
    assert_eq!(
        k.ok(&[
            "get",
            "pod",
            "gated",
            "-o",
            "jsonpath={.spec.schedulingGates}"
        ]),
        ""
    );
}
