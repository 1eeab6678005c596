//! Cluster IPs and node ports across a service's life, driven by kubectl: a refused create
//! keeps nothing, a type change gives up what the new type does not use (and an
//! ExternalName turned ClusterIP gets an address), and a dry run takes nothing.

use std::path::Path;
use std::process::Output;

use testkit::{Kubectl, Server};

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn ok(k: &Kubectl, args: &[&str]) -> String {
    let out = k.run(args);
    assert!(out.status.success(), "kubectl {args:?}: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn refused(k: &Kubectl, args: &[&str], stdin: &str) -> String {
    let out = k.run_stdin(args, stdin);
    assert!(!out.status.success(), "kubectl {args:?}: {}", show(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn create(k: &Kubectl, manifest: &str) {
    let out = k.run_stdin(&["create", "-f", "-"], manifest);
    assert!(out.status.success(), "create {manifest}: {}", show(&out));
}

fn service(name: &str, ty: &str, cluster_ip: &str, node_port: Option<u16>) -> String {
    let node_port = node_port.map_or(String::new(), |p| format!(", \"nodePort\": {p}"));
    let ip = if cluster_ip.is_empty() {
        String::new()
    } else {
        format!("\"clusterIP\": \"{cluster_ip}\", ")
    };
    format!(
        r#"{{"apiVersion": "v1", "kind": "Service", "metadata": {{"name": "{name}"}},
            "spec": {{"type": "{ty}", {ip}"selector": {{"app": "{name}"}},
                      "ports": [{{"name": "http", "port": 80{node_port}}}]}}}}"#
    )
}

fn patch(k: &Kubectl, name: &str, merge: &str) {
    ok(k, &["patch", "service", name, "-p", merge]);
}

fn jsonpath(k: &Kubectl, name: &str, path: &str) -> String {
    ok(
        k,
        &[
            "get",
            "service",
            name,
            "-o",
            &format!("jsonpath={{{path}}}"),
        ],
    )
}

#[test]
fn allocations_follow_the_service() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();

    create(&k, &service("a", "NodePort", "10.43.0.50", Some(30080)));
    // b asks for a free address but a's node port: refused, and the address stays free.
    let why = refused(
        &k,
        &["create", "-f", "-"],
        &service("b", "NodePort", "10.43.0.51", Some(30080)),
    );
    assert!(
        why.contains("spec.ports[0].nodePort")
            && why.contains("provided port is already allocated"),
        "{why}"
    );
    create(&k, &service("c", "ClusterIP", "10.43.0.51", None));

    // NodePort -> ClusterIP: the node port goes with the type, and is free for another.
    patch(&k, "a", r#"{"spec":{"type":"ClusterIP"}}"#);
    assert_eq!(jsonpath(&k, "a", ".spec.ports[0].nodePort"), "");
    create(&k, &service("d", "NodePort", "", Some(30080)));

    // ClusterIP -> ExternalName with only the type and name patched, as a user would:
    // the cluster IP goes and is free for another; back to ClusterIP: a new address.
    patch(
        &k,
        "c",
        r#"{"spec":{"type":"ExternalName","externalName":"example.com"}}"#,
    );
    assert_eq!(jsonpath(&k, "c", ".spec.clusterIP"), "");
    assert_eq!(jsonpath(&k, "c", ".spec.clusterIPs"), "");
    create(&k, &service("e", "ClusterIP", "10.43.0.51", None));
    patch(
        &k,
        "c",
        r#"{"spec":{"type":"ClusterIP","externalName":null}}"#,
    );
    let ip = jsonpath(&k, "c", ".spec.clusterIP");
    assert!(ip.starts_with("10.43.") && ip != "10.43.0.51", "{ip}");
    assert_eq!(jsonpath(&k, "c", ".spec.clusterIPs[0]"), ip);

    // NodePort -> ExternalName as upstream's conformance test asks it (cluster IP cleared,
    // ports dropped): address and node port are free; and back to NodePort: both again.
    create(&k, &service("x", "NodePort", "10.43.0.60", Some(30090)));
    patch(
        &k,
        "x",
        r#"{"spec":{"type":"ExternalName","externalName":"foo.example.com","clusterIP":"","ports":null}}"#,
    );
    assert_eq!(jsonpath(&k, "x", ".spec.clusterIPs"), "");
    create(&k, &service("y", "NodePort", "10.43.0.60", Some(30090)));
    patch(
        &k,
        "x",
        r#"{"spec":{"type":"NodePort","externalName":null,"ports":[{"name":"http","port":80}]}}"#,
    );
    let ip = jsonpath(&k, "x", ".spec.clusterIP");
    assert!(ip.starts_with("10.43.") && ip != "10.43.0.60", "{ip}");
    let port: u16 = jsonpath(&k, "x", ".spec.ports[0].nodePort")
        .parse()
        .expect("a node port");
    assert!((30000..=32767).contains(&port) && port != 30090, "{port}");

    // A dry run that would add a node port takes nothing.
    let added = r#"[{"op":"add","path":"/spec/ports/-","value":{"name":"admin","port":81,"nodePort":30081}}]"#;
    let out = ok(
        &k,
        &[
            "patch",
            "service",
            "d",
            "--type=json",
            "-p",
            added,
            "--dry-run=server",
            "-o",
            "jsonpath={.spec.ports[1].nodePort}",
        ],
    );
    assert_eq!(out, "30081");
    create(&k, &service("f", "NodePort", "", Some(30081)));
    // The same change for real now meets f's port.
    let why = refused(
        &k,
        &["patch", "service", "d", "--type=json", "-p", added],
        "",
    );
    assert!(why.contains("provided port is already allocated"), "{why}");
    assert_eq!(jsonpath(&k, "d", ".spec.ports[*].nodePort"), "30080");
}
