//! CustomResourceDefinitions through real kubectl: a CRD is served at once (discovery,
//! OpenAPI for `kubectl explain`), its objects get printer columns, the status and scale
//! subresources, categories and short names work, versions convert with strategy None,
//! deleting the CRD deletes its objects, and a CRD whose names are taken is not served.

use std::path::Path;
use std::time::Duration;

use testkit::{eventually, Kubectl, Server};

const CRD: &str = include_str!("fixtures/widget-crd.yaml");

fn server() -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")))
}

fn established(k: &Kubectl, name: &str) {
    k.ok(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/{name}"),
        "--timeout=20s",
    ]);
}

fn widget(name: &str, body: &str) -> String {
    format!("apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: {name}\nspec:\n{body}")
}

#[test]
fn crd_is_served_with_columns_subresources_and_explain() {
    let s = server();
    let k = s.kubectl();
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    established(&k, "widgets.example.com");

    let conditions = k.ok(&[
        "get",
        "crd",
        "widgets.example.com",
        "-o",
        "jsonpath={range .status.conditions[*]}{.type}={.status}/{.reason} {end}|{.metadata.finalizers}|{.status.acceptedNames.kind}",
    ]);
    assert_eq!(
        conditions,
        "NamesAccepted=True/NoConflicts Established=True/InitialNamesAccepted |[\"customresourcecleanup.apiextensions.k8s.io\"]|Widget"
    );
    let resources = k.ok(&["api-resources", "--api-group=example.com", "--no-headers"]);
    let row: Vec<&str> = resources.split_whitespace().collect();
    assert_eq!(
        row,
        ["widgets", "wd", "example.com/v1", "true", "Widget"],
        "{resources}"
    );

    k.ok_stdin(
        &["apply", "-f", "-"],
        &widget("w1", "  replicas: 2\n  color: red\n"),
    );
    let table = k.ok(&["get", "widgets"]);
    let lines: Vec<Vec<&str>> = table
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        ["NAME", "REPLICAS", "COLOR", "READY", "AGE"],
        "{table}"
    );
    // No Ready condition yet: the cell is null, which kubectl leaves blank.
    assert_eq!(&lines[1][..3], ["w1", "2", "red"], "{table}");
    assert_eq!(lines[1].len(), 4, "{table}");

    // The status subresource takes only status; the main resource ignores status.
    k.ok(&[
        "patch", "widget", "w1", "--subresource=status", "--type=merge", "-p",
        r#"{"spec":{"color":"blue"},"status":{"replicas":2,"selector":"app=w1","conditions":[{"type":"Ready","status":"True"}]}}"#,
    ]);
    k.ok(&[
        "patch",
        "wd",
        "w1",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":9}}"#,
    ]);
    let got = k.ok(&[
        "get",
        "wd",
        "w1",
        "-o",
        "jsonpath={.spec.color} {.status.replicas} {.metadata.generation}",
    ]);
    assert_eq!(got, "red 2 1");
    let table = k.ok(&["get", "wd", "w1", "--no-headers"]);
    assert_eq!(
        &table.split_whitespace().collect::<Vec<_>>()[..4],
        ["w1", "2", "red", "True"]
    );

    // Scale through the scale subresource's paths; the generation moves with the spec.
    k.ok(&["scale", "widget", "w1", "--replicas=5"]);
    let scale = k.ok(&[
        "get",
        "--raw",
        "/apis/example.com/v1/namespaces/default/widgets/w1/scale",
    ]);
    let scale: serde_json::Value = serde_json::from_str(&scale).expect("scale json");
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["spec"]["replicas"], 5);
    assert_eq!(scale["status"]["replicas"], 2);
    assert_eq!(scale["status"]["selector"], "app=w1");
    let got = k.ok(&[
        "get",
        "wd",
        "w1",
        "-o",
        "jsonpath={.spec.replicas} {.metadata.generation}",
    ]);
    assert_eq!(got, "5 2");

    // Category `all` and the short name reach it; explain reads the CRD's schema.
    let all = k.ok(&["get", "all", "-o", "name"]);
    assert!(all.contains("widget.example.com/w1"), "{all}");
    let explain = k.ok(&["explain", "widgets.spec.replicas"]);
    assert!(explain.contains("How many copies."), "{explain}");
    let explain = k.ok(&["explain", "widget"]);
    assert!(
        explain.contains("A widget is a thing with a color."),
        "{explain}"
    );

    // The deprecated version serves the same object, with the CRD's warning.
    let out = k.run(&[
        "get",
        "widgets.v1beta1.example.com",
        "w1",
        "-o",
        "jsonpath={.apiVersion} {.spec.replicas}",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "example.com/v1beta1 5"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("example.com/v1beta1 Widget is old; use example.com/v1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A watch sees custom objects change.
    let mut watch = k.spawn_lines(&["get", "widgets", "-w", "-o", "name"]);
    k.ok_stdin(&["apply", "-f", "-"], &widget("w2", "  color: green\n"));
    eventually(
        "the watch to see w2",
        Duration::from_secs(10),
        || watch.lines(),
        |l| l.iter().any(|x| x == "widget.example.com/w2"),
    );
    watch.kill();
}

#[test]
fn deleting_a_crd_deletes_its_objects_and_waits_for_their_finalizers() {
    let s = server();
    let k = s.kubectl();
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    established(&k, "widgets.example.com");
    k.ok(&["create", "namespace", "other"]);
    for (ns, name) in [("default", "a"), ("default", "b"), ("other", "c")] {
        k.ok_stdin(
            &["apply", "-n", ns, "-f", "-"],
            &widget(name, "  color: red\n"),
        );
    }
    k.ok(&[
        "patch",
        "wd",
        "b",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":["example.com/hold"]}}"#,
    ]);
    assert_eq!(
        k.ok(&["get", "wd", "-A", "--no-headers", "-o", "name"])
            .lines()
            .count(),
        3
    );

    k.ok(&["delete", "crd", "widgets.example.com", "--wait=false"]);
    // While an object holds the CRD, it is Terminating and refuses new objects.
    eventually(
        "the CRD to report what it waits for",
        Duration::from_secs(10),
        || {
            k.ok(&[
                "get",
                "crd",
                "widgets.example.com",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Terminating\")].reason}",
            ])
        },
        |r| r == "InstanceDeletionInProgress",
    );
    let left = k.ok(&["get", "wd", "-A", "-o", "name"]);
    assert_eq!(left.trim(), "widget.example.com/b", "{left}");
    let err = String::from_utf8_lossy(
        &k.run_stdin(&["create", "-f", "-"], &widget("d", "  color: red\n"))
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("create not allowed while custom resource definition is terminating"),
        "{err}"
    );

    k.ok(&[
        "patch",
        "wd",
        "b",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    eventually(
        "the CRD to go",
        Duration::from_secs(15),
        || {
            k.run(&["get", "crd", "widgets.example.com"])
                .status
                .success()
        },
        |present| !present,
    );
    let err = k.fails(&["get", "widgets.example.com"]);
    assert!(
        err.contains("the server doesn't have a resource type"),
        "{err}"
    );
    // Nothing of it is left in discovery.
    let groups = k.ok(&["api-versions"]);
    assert!(!groups.contains("example.com/"), "{groups}");
}

#[test]
fn cluster_scoped_crd_and_a_name_conflict() {
    let s = server();
    let k = s.kubectl();
    let cluster_crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gadgets.example.com}
spec:
  group: example.com
  scope: Cluster
  names: {plural: gadgets, kind: Gadget, shortNames: [gd]}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;
    k.ok_stdin(&["apply", "-f", "-"], cluster_crd);
    established(&k, "gadgets.example.com");
    k.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: example.com/v1\nkind: Gadget\nmetadata: {name: g1}\nspec: {anything: [1, 2]}\n",
    );
    assert_eq!(
        k.ok(&["get", "gd", "g1", "-o", "jsonpath={.spec.anything}"]),
        "[1,2]"
    );
    let table = k.ok(&["get", "gadgets"]);
    assert_eq!(
        table
            .lines()
            .next()
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["NAME", "AGE"])
    );

    // Another CRD of the group asking for the short name `gd` is not accepted.
    let clash = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: gizmos.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gizmos, kind: Gizmo, shortNames: [gd]}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}
"#;
    k.ok_stdin(&["apply", "-f", "-"], clash);
    let got = eventually(
        "the conflict to be reported",
        Duration::from_secs(10),
        || {
            k.ok(&["get", "crd", "gizmos.example.com", "-o", "jsonpath={.status.conditions[?(@.type==\"NamesAccepted\")].message}|{.status.conditions[?(@.type==\"Established\")].status}"])
        },
        |r| !r.is_empty() && !r.starts_with('|'),
    );
    assert_eq!(got, "\"gd\" is already in use|False");
    let err = k.fails(&["get", "gizmos"]);
    assert!(
        err.contains("the server doesn't have a resource type \"gizmos\""),
        "{err}"
    );

    // Renaming the gizmos' short name frees them; a later clash by an established CRD
    // keeps it served under the names it was accepted with.
    k.ok(&[
        "patch",
        "crd",
        "gizmos.example.com",
        "--type=merge",
        "-p",
        r#"{"spec":{"names":{"shortNames":["gz"]}}}"#,
    ]);
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/gizmos.example.com",
        "--timeout=20s",
    ]);
    k.ok(&[
        "patch",
        "crd",
        "gizmos.example.com",
        "--type=merge",
        "-p",
        r#"{"spec":{"names":{"shortNames":["gd"]}}}"#,
    ]);
    let got = eventually(
        "the new clash to be reported",
        Duration::from_secs(10),
        || {
            k.ok(&["get", "crd", "gizmos.example.com", "-o", "jsonpath={.status.conditions[?(@.type==\"NamesAccepted\")].status}|{.status.conditions[?(@.type==\"Established\")].status}|{.status.acceptedNames.shortNames}"])
        },
        |r| r.starts_with("False"),
    );
    assert_eq!(got, r#"False|True|["gz"]"#);
    k.ok(&["get", "gz"]);

    // Finalizers of a custom resource are a set for server-side apply: two appliers each
    // keep their own.
    for (manager, finalizer) in [("one", "example.com/one"), ("two", "example.com/two")] {
        k.ok_stdin(
            &["apply", "--server-side", &format!("--field-manager={manager}"), "-f", "-"],
            &format!("apiVersion: example.com/v1\nkind: Gadget\nmetadata: {{name: g1, finalizers: [{finalizer}]}}\n"),
        );
    }
    assert_eq!(
        k.ok(&["get", "gd", "g1", "-o", "jsonpath={.metadata.finalizers}"]),
        r#"["example.com/one","example.com/two"]"#
    );
    k.ok(&[
        "patch",
        "gd",
        "g1",
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
}

#[test]
fn schema_validation_pruning_defaults_and_cel_rules() {
    let s = server();
    let k = s.kubectl();
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    established(&k, "widgets.example.com");

    // Defaults fill in; unknown fields are pruned with a warning (fieldValidation=Warn;
    // kubectl's default is Strict).
    let out = k.run_stdin(
        &["create", "--validate=warn", "-f", "-"],
        &widget("d1", "  color: green\n  size: {}\n  extra: 1\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(r#"unknown field "spec.extra""#),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = k.ok(&["get", "wd", "d1", "-o", "jsonpath={.spec}"]);
    let spec: serde_json::Value = serde_json::from_str(&got).expect("spec json");
    assert_eq!(
        spec,
        serde_json::json!({"color": "green", "replicas": 1, "maxReplicas": 10, "size": {"width": 3, "unit": "cm"}})
    );

    // Strict refuses unknown fields and stores nothing.
    let err = String::from_utf8_lossy(
        &k.run_stdin(
            &["create", "--validate=strict", "-f", "-"],
            &widget("d2", "  color: red\n  extra: 1\n"),
        )
        .stderr,
    )
    .into_owned();
    assert!(
        err.contains(r#"strict decoding error: unknown field "spec.extra""#),
        "{err}"
    );
    assert!(!k.run(&["get", "wd", "d2"]).status.success());

    // Invalid objects: 422 naming the field and the rule, nothing stored.
    let cases = [
        ("  color: purple\n", r#"spec.color: Unsupported value: "purple": supported values: "red", "green", "blue""#),
        ("  replicas: 2\n", "spec.color: Required value"),
        ("  color: red\n  replicas: many\n", r#"spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string""#),
        ("  color: red\n  maxReplicas: 200\n", "spec.maxReplicas: Invalid value: 200: spec.maxReplicas in body should be less than or equal to 100"),
        ("  color: red\n  size: {unit: mm}\n", r#"spec.size.unit: Invalid value: "mm": spec.size.unit in body should match '^(cm|in)$'"#),
        ("  color: red\n  tags: [a, a]\n", r#"spec.tags[1]: Duplicate value: "a""#),
        ("  color: red\n  replicas: 20\n  maxReplicas: 5\n", "spec: Invalid value: replicas may not exceed maxReplicas"),
    ];
    for (body, want) in cases {
        let out = k.run_stdin(&["create", "-f", "-"], &widget("bad", body));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{body} was accepted");
        assert!(
            err.contains("is invalid") && err.contains(want),
            "{body}: {err}"
        );
        assert!(!k.run(&["get", "wd", "bad"]).status.success());
    }

    // The rule holds on update too, and through a patch.
    let err = k.fails(&[
        "patch",
        "wd",
        "d1",
        "--type=merge",
        "-p",
        r#"{"spec":{"replicas":11}}"#,
    ]);
    assert!(err.contains("replicas may not exceed maxReplicas"), "{err}");
    // Status writes are validated against the schema as well.
    let err = k.fails(&[
        "patch",
        "wd",
        "d1",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"replicas":"x"}}"#,
    ]);
    assert!(
        err.contains("status.replicas in body must be of type integer"),
        "{err}"
    );
    // Custom resources take no strategic merge patch.
    let err = k.fails(&[
        "patch",
        "wd",
        "d1",
        "--type=strategic",
        "-p",
        r#"{"spec":{"replicas":2}}"#,
    ]);
    assert!(
        err.contains("unknown format")
            || err.contains("UnsupportedMediaType")
            || err.contains("415"),
        "{err}"
    );

    // Server-side apply of a custom resource: the set-typed list is merged per item.
    k.ok_stdin(
        &["apply", "--server-side", "--field-manager=a", "-f", "-"],
        &widget("d1", "  color: green\n  tags: [alpha]\n"),
    );
    k.ok_stdin(
        &["apply", "--server-side", "--field-manager=b", "-f", "-"],
        &widget("d1", "  color: green\n  tags: [beta]\n"),
    );
    assert_eq!(
        k.ok(&["get", "wd", "d1", "-o", "jsonpath={.spec.tags}"]),
        r#"["alpha","beta"]"#
    );
    let out = k.run_stdin(
        &["apply", "--server-side", "--field-manager=b", "-f", "-"],
        &widget("d1", "  color: blue\n"),
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(".spec.color"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A CRD whose schema is not structural, or whose rule does not compile, is refused.
    let bad = CRD
        .replace("name: widgets.example.com", "name: things.example.com")
        .replace("plural: widgets", "plural: things")
        .replace("singular: widget", "singular: thing")
        .replace("kind: Widget", "kind: Thing")
        .replace("shortNames: [wd]", "shortNames: [th]")
        .replace(
            "rule: self.replicas <= self.maxReplicas",
            "rule: self.replicas <=",
        );
    let err =
        String::from_utf8_lossy(&k.run_stdin(&["create", "-f", "-"], &bad).stderr).into_owned();
    assert!(
        err.contains("x-kubernetes-validations[0].rule") && err.contains("compilation failed"),
        "{err}"
    );
}

/// kubectl caches OpenAPI documents by the hash in `/openapi/v3`: a custom group-version's
/// hash stays across a server restart and changes when its CRD's schema does, so `kubectl
/// explain` never shows a stale schema.
#[test]
fn openapi_hash_follows_the_crd_schema() {
    let mut s = server();
    let k = s.kubectl();
    k.ok_stdin(&["apply", "-f", "-"], CRD);
    established(&k, "widgets.example.com");
    let hash = |k: &Kubectl| {
        let index: serde_json::Value =
            serde_json::from_str(&k.ok(&["get", "--raw", "/openapi/v3"])).expect("index json");
        index["paths"]["apis/example.com/v1"]["serverRelativeURL"]
            .as_str()
            .expect("example.com/v1 listed")
            .to_string()
    };
    let first = hash(&k);
    s.restart();
    let k = s.kubectl();
    assert_eq!(hash(&k), first, "the same CRD after a restart");
    k.ok_stdin(
        &["apply", "-f", "-"],
        &CRD.replace("How many copies.", "How many copies there are."),
    );
    let changed = eventually(
        "a new hash",
        Duration::from_secs(10),
        || hash(&k),
        |h| *h != first,
    );
    assert_ne!(changed, first);
    let explain = k.ok(&["explain", "widgets.spec.replicas"]);
    assert!(explain.contains("How many copies there are."), "{explain}");
}

/// Conversion webhooks are not called: a CRD asking for one while serving two versions is
/// accepted, its writer is warned, and its objects are served with strategy None.
#[test]
fn a_conversion_webhook_crd_is_warned_about() {
    let s = server();
    let k = s.kubectl();
    let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: convs.example.com}
spec:
  group: example.com
  scope: Namespaced
  names: {plural: convs, kind: Conv}
  conversion:
    strategy: Webhook
    webhook:
      conversionReviewVersions: [v1]
      clientConfig: {url: "https://127.0.0.1:1/convert"}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
  - {name: v2, served: true, storage: false, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
"#;
    let out = k.run_stdin(&["create", "-f", "-"], crd);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Webhook is not supported by this server"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    established(&k, "convs.example.com");
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: example.com/v1\nkind: Conv\nmetadata: {name: c}\nspec: {a: 1}\n",
    );
    assert_eq!(
        k.ok(&[
            "get",
            "convs.v2.example.com",
            "c",
            "-o",
            "jsonpath={.apiVersion} {.spec.a}"
        ]),
        "example.com/v2 1"
    );
    // Written through the other version (stored in the storage version), read through both.
    k.ok_stdin(
        &["create", "-f", "-"],
        "apiVersion: example.com/v2\nkind: Conv\nmetadata: {name: d}\nspec: {b: 2}\n",
    );
    assert_eq!(
        k.ok(&[
            "get",
            "convs.v1.example.com",
            "d",
            "-o",
            "jsonpath={.apiVersion} {.spec.b}"
        ]),
        "example.com/v1 2"
    );
    let got = k.ok(&[
        "get",
        "convs.v2.example.com",
        "d",
        "-o",
        "json",
        "--show-managed-fields",
    ]);
    let got: serde_json::Value = serde_json::from_str(&got).expect("json");
    assert_eq!(got["apiVersion"], "example.com/v2");
    assert_eq!(
        got["metadata"]["managedFields"][0]["apiVersion"],
        "example.com/v2"
    );
}
