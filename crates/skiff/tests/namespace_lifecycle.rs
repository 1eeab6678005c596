//! Deleting a namespace deletes what is in it and then the namespace (the namespace
//! controller, driven through the API).

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::Server;

#[test]
fn deleting_a_namespace_removes_its_content_and_then_itself() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok(&["create", "namespace", "doomed"]);
    k.ok(&[
        "-n",
        "doomed",
        "create",
        "configmap",
        "a",
        "--from-literal=k=v",
    ]);
    k.ok(&[
        "-n",
        "doomed",
        "create",
        "deployment",
        "d",
        "--image=nginx:1",
    ]);
    let started = Instant::now();
    k.ok(&["delete", "namespace", "doomed", "--timeout=30s"]);
    assert!(started.elapsed() < Duration::from_secs(30));
    let out = k.run(&["get", "namespace", "doomed"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("namespaces \"doomed\" not found"));
    // The content went first: nothing is left under the namespace's keys.
    let cms = k.ok(&["get", "configmaps", "-A", "-o", "name"]);
    assert!(!cms.contains("configmap/a"), "{cms}");
    let deploys = k.ok(&["get", "deployments", "-A", "-o", "name"]);
    assert!(!deploys.contains("deployment.apps/d"), "{deploys}");
}

#[test]
fn an_object_with_a_finalizer_holds_its_namespace_until_released() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok(&["create", "namespace", "held"]);
    k.ok_stdin(
        &["-n", "held", "create", "-f", "-"],
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: pinned, finalizers: [example.com/hold]}\n",
    );
    k.ok(&["delete", "namespace", "held", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(2));
    let phase = k.ok(&["get", "namespace", "held", "-o", "jsonpath={.status.phase}"]);
    assert_eq!(phase, "Terminating");
    let err = k.fails(&["-n", "held", "create", "configmap", "late"]);
    assert!(err.contains("because it is being terminated"), "{err}");
    // Its conditions say what holds it, as upstream's namespace controller reports.
    let conditions = testkit::eventually(
        "the namespace's deletion conditions",
        Duration::from_secs(10),
        || {
            k.ok(&["get", "namespace", "held", "-o", "jsonpath={range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{\"\\n\"}{end}"])
        },
        |c| c.contains("SomeFinalizerRemain"),
    );
    assert!(
        conditions.contains("NamespaceContentRemaining=True SomeResourcesRemain: Some resources are remaining: configmaps has 1 resource instances"),
        "{conditions}"
    );
    assert!(
        conditions.contains("NamespaceFinalizersRemaining=True SomeFinalizerRemain: Some finalizers are remaining: example.com/hold in 1 resource instances"),
        "{conditions}"
    );
    assert!(
        conditions.contains("NamespaceDeletionDiscoveryFailure=False ResourcesDiscovered"),
        "{conditions}"
    );
    k.ok(&[
        "-n",
        "held",
        "patch",
        "configmap",
        "pinned",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ]);
    k.ok(&["wait", "--for=delete", "namespace/held", "--timeout=30s"]);
}

/// Ten kinds, five of each — one of them a custom resource — in one namespace: deleting the
/// namespace removes all fifty, then the namespace, and nothing of it is left anywhere.
#[test]
fn fifty_objects_of_ten_kinds_go_with_their_namespace() {
    let server = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = server.kubectl();
    k.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: notes.demo.skiff.dev}
spec:
  group: demo.skiff.dev
  scope: Namespaced
  names: {plural: notes, kind: Note}
  versions:
  - {name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}}
"#,
    );
    k.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/notes.demo.skiff.dev",
        "--timeout=20s",
    ]);
    k.ok(&["create", "namespace", "full"]);
    let mut manifest = String::new();
    for i in 0..5 {
        manifest += &format!(
            r#"---
apiVersion: v1
kind: ConfigMap
metadata: {{name: cm-{i}, namespace: full}}
data: {{k: v}}
---
apiVersion: v1
kind: Secret
metadata: {{name: secret-{i}, namespace: full}}
stringData: {{k: v}}
---
apiVersion: v1
kind: Service
metadata: {{name: svc-{i}, namespace: full}}
spec: {{ports: [{{port: 80}}], selector: {{app: a}}}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {{name: sa-{i}, namespace: full}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: deploy-{i}, namespace: full}}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: d{i}}}}}
  template:
    metadata: {{labels: {{app: d{i}}}}}
    spec: {{containers: [{{name: c, image: example/app:1}}]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: role-{i}, namespace: full}}
rules: [{{apiGroups: [""], resources: [pods], verbs: [get]}}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: rb-{i}, namespace: full}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: role-{i}}}
subjects: [{{kind: ServiceAccount, name: sa-{i}, namespace: full}}]
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {{name: lease-{i}, namespace: full}}
spec: {{holderIdentity: x}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {{name: pdb-{i}, namespace: full}}
spec: {{minAvailable: 1, selector: {{matchLabels: {{app: d{i}}}}}}}
---
apiVersion: demo.skiff.dev/v1
kind: Note
metadata: {{name: note-{i}, namespace: full}}
text: hello
"#
        );
    }
    k.ok_stdin(&["apply", "-f", "-"], &manifest);
    let kinds = "configmaps,secrets,services,serviceaccounts,deployments,roles,rolebindings,leases,poddisruptionbudgets,notes";
    let names = k.ok(&["get", kinds, "-n", "full", "-o", "name"]);
    // Service accounts and config maps the controllers add (default, kube-root-ca.crt) too.
    assert!(names.lines().count() >= 50, "{names}");

    let started = Instant::now();
    k.ok(&["delete", "namespace", "full", "--timeout=60s"]);
    assert!(started.elapsed() < Duration::from_secs(60));
    let out = k.run(&["get", "namespace", "full"]);
    assert!(!out.status.success());
    let left = k.ok(&[
        "get",
        &format!("{kinds},replicasets,pods,endpointslices"),
        "-A",
        "-o",
        "jsonpath={range .items[?(@.metadata.namespace==\"full\")]}{.kind}/{.metadata.name} {end}",
    ]);
    assert_eq!(left.trim(), "", "left behind: {left}");
}
