//! The pod garbage collector: pods of a node that is gone are marked and deleted once
//! the node has stayed gone for the quarantine time (40 s upstream).

mod simkit;

use std::time::Duration;

use simkit::{bin, get, wait_for, Sim};
use testkit::Server;

#[test]
fn pods_of_a_deleted_node_are_collected() {
    let server = Server::start(bin());
    let k = server.kubectl();
    let sim = Sim::start(&server, 2);
    for (name, node) in [("orphan", "sim-1"), ("kept", "sim-0")] {
        k.ok_stdin(
            &["create", "-f", "-"],
            &format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  nodeName: {node}\n  containers: [{{name: app, image: nginx}}]\n"),
        );
    }
    wait_for("both pods running", Duration::from_secs(20), &sim, || {
        let out = get(
            &k,
            &["get", "pods", "-o", "jsonpath={.items[*].status.phase}"],
        );
        (out != "Running Running").then_some(out)
    });
    let watch = k.spawn_lines(&[
        "get",
        "pod",
        "orphan",
        "-w",
        "-o",
        r#"jsonpath={.status.phase} {.status.conditions[?(@.type=="DisruptionTarget")].reason}{"\n"}"#,
    ]);
    k.ok(&["delete", "node", "sim-1"]);
    wait_for(
        "the orphan collected",
        Duration::from_secs(75),
        &sim,
        || {
            let out = get(
                &k,
                &["get", "pods", "-o", "jsonpath={.items[*].metadata.name}"],
            );
            (out != "kept").then_some(out)
        },
    );
    assert!(
        watch.wait_for(Duration::from_secs(5), |l| l == "Failed DeletionByPodGC"),
        "{:?}",
        watch.lines()
    );
}
