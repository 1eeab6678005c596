//! Everyday kubectl against a real `skiff server`: discovery, explain, apply/create of a
//! multi-document manifest, every `get` output flavour, watch, describe and the mutating
//! verbs. Each scenario runs with kubectl 1.37 and with the machine's kubectl 1.32.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use testkit::{Kubectl, Server};

fn server() -> Server {
    Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")))
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// A line with runs of whitespace collapsed: table columns compare without padding.
fn words(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn lines(out: &str) -> Vec<String> {
    out.lines().map(words).filter(|l| !l.is_empty()).collect()
}

fn cols(line: &str) -> Vec<String> {
    line.split_whitespace().map(str::to_owned).collect()
}

fn is_age(s: &str) -> bool {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["s", "m", "h"].iter().any(|u| s.ends_with(u))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn show(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn json(k: &Kubectl, args: &[&str]) -> serde_json::Value {
    let out = k.ok(args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{out}"))
}

/// Creates through a manifest, so that setup does not depend on kubectl's imperative
/// `create` generators (those are tested on their own in `imperative_create`).
fn create_yaml(k: &Kubectl, yaml: &str) -> String {
    k.ok_stdin(&["create", "-f", "-"], yaml)
}

fn create_namespace(k: &Kubectl, name: &str) {
    let out = create_yaml(
        k,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"),
    );
    assert_eq!(out.trim(), format!("namespace/{name} created"));
}

fn create_configmap(k: &Kubectl, ns: &str, name: &str, data: &[(&str, &str)]) {
    let mut yaml = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n"
    );
    for (key, v) in data {
        yaml.push_str(&format!("  {key}: \"{v}\"\n"));
    }
    if data.is_empty() {
        yaml.truncate(yaml.len() - "data:\n".len());
    }
    assert_eq!(
        create_yaml(k, &yaml).trim(),
        format!("configmap/{name} created")
    );
}

fn apply_everyday(k: &Kubectl) {
    k.ok(&["apply", "-f", &fixture("everyday.yaml")]);
}

/// The exact stdout kubectl prints for each object of everyday.yaml, with `verb`.
fn everyday_lines(verb: &str) -> Vec<String> {
    [
        "namespace/shop",
        "deployment.apps/web",
        "statefulset.apps/db",
        "daemonset.apps/agent",
        "job.batch/once",
        "cronjob.batch/nightly",
        "service/web",
        "configmap/web-config",
        "secret/web-secret",
        "ingress.networking.k8s.io/web",
        "role.rbac.authorization.k8s.io/reader",
        "rolebinding.rbac.authorization.k8s.io/reader",
        "horizontalpodautoscaler.autoscaling/web",
        "poddisruptionbudget.policy/web",
    ]
    .iter()
    .map(|o| format!("{o} {verb}"))
    .collect()
}

fn jsonpath(k: &Kubectl, args: &[&str], path: &str) -> String {
    let mut a: Vec<&str> = args.to_vec();
    let p = format!("jsonpath={path}");
    a.extend(["-o", &p]);
    k.ok(&a)
}

// Runs one scenario with kubectl 1.37 and with the system's kubectl 1.32.
macro_rules! both_kubectls {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[test]
            fn kubectl_1_37() {
                super::$scenario(&testkit::kubectl_latest());
            }
            #[test]
            fn kubectl_1_32() {
                super::$scenario(&testkit::kubectl_system());
            }
        }
    )*};
}

both_kubectls!(
    api_resources,
    explain,
    manifest_create,
    manifest_apply_prunes_removed_fields,
    get_output_formats,
    get_printer_columns,
    selectors_and_chunking,
    get_watch,
    describe,
    label_and_annotate,
    patch_types,
    edit_with_editor,
    scale_set_image_rollout_restart,
    diff,
    finalizer_delete_and_wait,
    imperative_create,
    namespaces_and_kubernetes_service,
    pods_and_get_all,
);

fn api_resources(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    let all = lines(&k.ok(&["api-resources"]));
    assert_eq!(all[0], "NAME SHORTNAMES APIVERSION NAMESPACED KIND");
    for want in [
        "pods po v1 true Pod",
        "services svc v1 true Service",
        "configmaps cm v1 true ConfigMap",
        "secrets v1 true Secret",
        "serviceaccounts sa v1 true ServiceAccount",
        "persistentvolumeclaims pvc v1 true PersistentVolumeClaim",
        "namespaces ns v1 false Namespace",
        "nodes no v1 false Node",
        "deployments deploy apps/v1 true Deployment",
        "statefulsets sts apps/v1 true StatefulSet",
        "daemonsets ds apps/v1 true DaemonSet",
        "replicasets rs apps/v1 true ReplicaSet",
        "jobs batch/v1 true Job",
        "cronjobs cj batch/v1 true CronJob",
        "horizontalpodautoscalers hpa autoscaling/v2 true HorizontalPodAutoscaler",
        "poddisruptionbudgets pdb policy/v1 true PodDisruptionBudget",
        "ingresses ing networking.k8s.io/v1 true Ingress",
        "roles rbac.authorization.k8s.io/v1 true Role",
        "rolebindings rbac.authorization.k8s.io/v1 true RoleBinding",
        "clusterroles rbac.authorization.k8s.io/v1 false ClusterRole",
    ] {
        assert!(
            all.iter().any(|l| l == want),
            "api-resources lacks `{want}`:\n{all:#?}"
        );
    }

    let cluster = lines(&k.ok(&["api-resources", "--namespaced=false"]));
    assert_eq!(cluster[0], "NAME SHORTNAMES APIVERSION NAMESPACED KIND");
    for want in [
        "nodes no v1 false Node",
        "namespaces ns v1 false Namespace",
        "clusterroles rbac.authorization.k8s.io/v1 false ClusterRole",
    ] {
        assert!(
            cluster.iter().any(|l| l == want),
            "--namespaced=false lacks `{want}`:\n{cluster:#?}"
        );
    }
    assert!(
        cluster[1..].iter().all(|l| l.contains(" false ")),
        "--namespaced=false lists a namespaced resource:\n{cluster:#?}"
    );

    let mut apps = lines(&k.ok(&["api-resources", "--api-group=apps", "-o", "name"]));
    apps.sort();
    assert_eq!(
        apps,
        [
            "controllerrevisions.apps",
            "daemonsets.apps",
            "deployments.apps",
            "replicasets.apps",
            "statefulsets.apps"
        ]
    );
}

fn explain(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    let out = k.ok(&["explain", "deployment.spec.replicas"]);
    let l = lines(&out);
    for want in ["KIND: Deployment", "FIELD: replicas <integer>"] {
        assert!(
            l.iter().any(|x| x == want),
            "explain lacks `{want}`:\n{out}"
        );
    }
    assert!(
        words(&out).contains(
            "Number of desired pods. This is a pointer to distinguish between explicit zero and not specified. Defaults to 1."
        ),
        "explain lacks the field description:\n{out}"
    );

    let out = k.ok(&["explain", "pods.spec.containers"]);
    let l = lines(&out);
    for want in [
        "KIND: Pod",
        "VERSION: v1",
        "FIELD: containers <[]Container>",
        "name <string> -required-",
        "image <string>",
    ] {
        assert!(
            l.iter().any(|x| x == want),
            "explain lacks `{want}`:\n{out}"
        );
    }
    assert!(
        words(&out).contains("List of containers belonging to the pod."),
        "explain lacks the description:\n{out}"
    );
    let err = k.fails(&["explain", "pods.spec.nosuchfield"]);
    assert!(err.contains("nosuchfield"), "{err}");
}

fn manifest_create(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    let out = k.ok(&["create", "-f", &fixture("everyday.yaml")]);
    assert_eq!(lines(&out), everyday_lines("created"));

    let names = lines(&k.ok(&[
        "get",
        "deploy,sts,ds,job,cronjob,svc",
        "-n",
        "shop",
        "-o",
        "name",
    ]))
    .into_iter()
    .chain(lines(&k.ok(&[
        "get",
        "cm/web-config",
        "secret/web-secret",
        "-n",
        "shop",
        "-o",
        "name",
    ])))
    .chain(lines(&k.ok(&[
        "get",
        "ing,role,rolebinding,hpa,pdb",
        "-n",
        "shop",
        "-o",
        "name",
    ])))
    .collect::<Vec<_>>();
    assert_eq!(
        names,
        [
            "deployment.apps/web",
            "statefulset.apps/db",
            "daemonset.apps/agent",
            "job.batch/once",
            "cronjob.batch/nightly",
            "service/web",
            "configmap/web-config",
            "secret/web-secret",
            "ingress.networking.k8s.io/web",
            "role.rbac.authorization.k8s.io/reader",
            "rolebinding.rbac.authorization.k8s.io/reader",
            "horizontalpodautoscaler.autoscaling/web",
            "poddisruptionbudget.policy/web",
        ]
    );

    // Creating again: every object already exists, nothing changes.
    let before = jsonpath(
        &k,
        &["get", "deploy", "web", "-n", "shop"],
        "{.metadata.resourceVersion}",
    );
    let out = k.run(&["create", "-f", &fixture("everyday.yaml")]);
    assert!(!out.status.success(), "{}", show(&out));
    let err = text(&out.stderr);
    assert!(
        err.contains("Error from server (AlreadyExists)")
            && err.contains("deployments.apps \"web\" already exists"),
        "{err}"
    );
    let after = jsonpath(
        &k,
        &["get", "deploy", "web", "-n", "shop"],
        "{.metadata.resourceVersion}",
    );
    assert_eq!(before, after);
}

fn manifest_apply_prunes_removed_fields(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    let out = k.ok(&["apply", "-f", &fixture("everyday.yaml")]);
    assert_eq!(lines(&out), everyday_lines("created"));

    let out = k.ok(&["apply", "-f", &fixture("everyday.yaml")]);
    assert_eq!(
        lines(&out),
        everyday_lines("unchanged"),
        "re-apply of the same manifest"
    );

    let dep = ["get", "deploy", "web", "-n", "shop"];
    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[0].env[*].name}"),
        "KEEP DROP"
    );
    assert_eq!(jsonpath(&k, &dep, "{.metadata.labels.tier}"), "a");

    // v2 drops the env var DROP and the label tier from the Deployment.
    let out = k.ok(&["apply", "-f", &fixture("everyday-v2.yaml")]);
    let want: Vec<String> = everyday_lines("unchanged")
        .into_iter()
        .map(|l| {
            if l.starts_with("deployment.apps/web") {
                "deployment.apps/web configured".to_owned()
            } else {
                l
            }
        })
        .collect();
    assert_eq!(lines(&out), want);

    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[0].env[*].name}"),
        "KEEP"
    );
    let obj = json(&k, &["get", "deploy", "web", "-n", "shop", "-o", "json"]);
    assert_eq!(obj["metadata"]["labels"], serde_json::json!({"app": "web"}));
    assert_eq!(
        obj["spec"]["template"]["spec"]["containers"][0]["env"],
        serde_json::json!([{"name": "KEEP", "value": "yes"}])
    );
    assert_eq!(
        obj["metadata"]["generation"], 2,
        "the template changed once"
    );
    let last: serde_json::Value = serde_json::from_str(
        obj["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .expect("last-applied annotation"),
    )
    .expect("last-applied is JSON");
    assert!(last["metadata"]["labels"].get("tier").is_none(), "{last}");
}

fn get_output_formats(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);

    let t = lines(&k.ok(&["get", "deploy", "web", "-n", "shop"]));
    assert_eq!(t[0], "NAME READY UP-TO-DATE AVAILABLE AGE");
    assert_eq!(t.len(), 2, "{t:#?}");
    let row = cols(&t[1]);
    assert_eq!(row[..2], ["web", "0/2"], "{t:#?}");
    assert!(is_age(&row[4]), "{t:#?}");

    let t = lines(&k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "wide"]));
    assert_eq!(
        t[0],
        "NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR"
    );
    let row = cols(&t[1]);
    assert_eq!(row[5..], ["app", "nginx:1.27", "app=web"], "{t:#?}");

    let obj = json(&k, &["get", "deploy", "web", "-n", "shop", "-o", "json"]);
    assert_eq!(obj["apiVersion"], "apps/v1");
    assert_eq!(obj["kind"], "Deployment");
    assert_eq!(obj["metadata"]["name"], "web");
    assert_eq!(obj["metadata"]["namespace"], "shop");
    assert_eq!(obj["metadata"]["generation"], 1);
    assert!(
        obj["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36),
        "{obj}"
    );
    assert_eq!(obj["spec"]["replicas"], 2);
    // Server-side defaulting, as upstream does it.
    assert_eq!(obj["spec"]["strategy"]["type"], "RollingUpdate");
    assert_eq!(obj["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(obj["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(obj["spec"]["progressDeadlineSeconds"], 600);
    let c = &obj["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["imagePullPolicy"], "IfNotPresent");
    assert_eq!(c["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(c["ports"][0]["protocol"], "TCP");
    assert_eq!(obj["spec"]["template"]["spec"]["restartPolicy"], "Always");
    assert_eq!(obj["spec"]["template"]["spec"]["dnsPolicy"], "ClusterFirst");

    let y = k.ok(&["get", "deploy", "web", "-n", "shop", "-o", "yaml"]);
    let yl: Vec<&str> = y.lines().collect();
    assert_eq!(yl[0], "apiVersion: apps/v1", "{y}");
    assert!(yl.contains(&"kind: Deployment"), "{y}");
    assert!(yl.contains(&"  name: web"), "{y}");
    assert!(yl.contains(&"  replicas: 2"), "{y}");

    assert_eq!(
        jsonpath(
            &k,
            &["get", "deploy", "web", "-n", "shop"],
            "{.spec.replicas}"
        ),
        "2"
    );
    assert_eq!(
        jsonpath(
            &k,
            &["get", "deploy", "-n", "shop"],
            "{.items[*].metadata.name}"
        ),
        "web"
    );
    let t = lines(&k.ok(&[
        "get",
        "deploy",
        "-n",
        "shop",
        "-o",
        "custom-columns=NAME:.metadata.name,IMG:.spec.template.spec.containers[0].image",
    ]));
    assert_eq!(t, ["NAME IMG", "web nginx:1.27"]);

    let t = lines(&k.ok(&["get", "deploy", "-n", "shop", "--show-labels"]));
    assert_eq!(t[0], "NAME READY UP-TO-DATE AVAILABLE AGE LABELS");
    assert_eq!(
        cols(&t[1]).last().map(String::as_str),
        Some("app=web,tier=a")
    );

    let err = k.fails(&["get", "deploy", "nope", "-n", "shop"]);
    assert!(
        err.contains("Error from server (NotFound): deployments.apps \"nope\" not found"),
        "{err}"
    );
}

/// Server-side printed columns of the manifest's kinds (the same for every kubectl).
fn get_printer_columns(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);
    let table = |what: &str| lines(&k.ok(&["get", what, "-n", "shop"]));
    // Every kind is checked; the failures are reported together.
    let failures = std::cell::RefCell::new(Vec::<String>::new());
    let check = |what: &str, header: &str, row_prefix: &[&str]| {
        let t = table(what);
        if t.len() != 2 || t[0] != header {
            failures.borrow_mut().push(format!(
                "{what}: want header {header:?} and one row, got {t:?}"
            ));
            return;
        }
        let row = cols(&t[1]);
        if !(row.len() >= row_prefix.len() && row[..row_prefix.len()] == *row_prefix) {
            failures.borrow_mut().push(format!(
                "{what}: row {row:?} does not start with {row_prefix:?}"
            ));
        }
    };
    check("cm/web-config", "NAME DATA AGE", &["web-config", "1"]);
    check(
        "secret/web-secret",
        "NAME TYPE DATA AGE",
        &["web-secret", "Opaque", "1"],
    );
    check("sts/db", "NAME READY AGE", &["db", "0/1"]);
    check(
        "ds/agent",
        "NAME DESIRED CURRENT READY UP-TO-DATE AVAILABLE NODE SELECTOR AGE",
        &["agent", "0", "0", "0", "0", "0", "<none>"],
    );
    check(
        "cronjob/nightly",
        "NAME SCHEDULE TIMEZONE SUSPEND ACTIVE LAST SCHEDULE AGE",
        &[
            "nightly", "0", "3", "*", "*", "*", "<none>", "False", "0", "<none>",
        ],
    );
    check(
        "ing/web",
        "NAME CLASS HOSTS ADDRESS PORTS AGE",
        // DefaultIngressClass admission gave it the built-in class.
        &["web", "skiff", "web.example.com", "80"],
    );
    check(
        "pdb/web",
        "NAME MIN AVAILABLE MAX UNAVAILABLE ALLOWED DISRUPTIONS AGE",
        &["web", "1", "N/A", "0"],
    );
    check(
        "hpa/web",
        "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE",
        &["web", "Deployment/web"],
    );
    check("role/reader", "NAME CREATED AT", &["reader"]);
    check(
        "rolebinding/reader",
        "NAME ROLE AGE",
        &["reader", "Role/reader"],
    );

    let t = lines(&k.ok(&["get", "svc", "web", "-n", "shop", "-o", "wide"]));
    let want_header = "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR";
    let row = t.get(1).map(|l| cols(l)).unwrap_or_default();
    let ok = t.len() == 2
        && t[0] == want_header
        && row.len() == 7
        && row[0] == "web"
        && row[1] == "ClusterIP"
        && row[2].starts_with("10.43.")
        && row[2] != "10.43.0.1"
        && row[3..5] == ["<none>", "80/TCP"]
        && row[6] == "app=web";
    if !ok {
        failures.borrow_mut().push(format!(
            "svc/web -o wide: want {want_header:?} and `web ClusterIP 10.43.x.y <none> 80/TCP AGE app=web`, got {t:?}"
        ));
    }
    let failures = failures.into_inner();
    assert!(
        failures.is_empty(),
        "printer columns:\n{}",
        failures.join("\n")
    );
}

fn selectors_and_chunking(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    create_namespace(&k, "sel");
    let mut yaml = String::new();
    for i in 0..10 {
        let tier = ["a", "a", "a", "b", "b", "b", "c", "c", "c", "c"][i];
        let app = if i % 2 == 0 { "\n    app: web" } else { "" };
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i:02}\n  namespace: sel\n  labels:\n    batch: ten\n    tier: {tier}{app}\ndata:\n  i: \"{i}\"\n"
        ));
    }
    let out = k.ok_stdin(&["create", "-f", "-"], &yaml);
    assert_eq!(lines(&out).len(), 10, "{out}");

    let names = |extra: &[&str]| {
        let mut a = vec!["get", "cm", "-n", "sel", "-o", "name"];
        a.extend_from_slice(extra);
        lines(&k.ok(&a))
    };
    let cms = |ids: &[u32]| -> Vec<String> {
        ids.iter().map(|i| format!("configmap/cm-{i:02}")).collect()
    };
    assert_eq!(names(&["-l", "app=web"]), cms(&[0, 2, 4, 6, 8]));
    assert_eq!(names(&["-l", "tier in (a,b)"]), cms(&[0, 1, 2, 3, 4, 5]));
    assert_eq!(
        names(&["-l", "batch=ten,tier notin (a,b)"]),
        cms(&[6, 7, 8, 9])
    );
    assert_eq!(names(&["-l", "batch=ten,!app"]), cms(&[1, 3, 5, 7, 9]));
    assert_eq!(names(&["-l", "tier=c,app=web"]), cms(&[6, 8]));
    assert_eq!(
        names(&["--field-selector", "metadata.name=cm-03"]),
        cms(&[3])
    );
    assert_eq!(
        names(&[
            "-l",
            "batch=ten",
            "--field-selector",
            "metadata.name!=cm-03"
        ]),
        cms(&[0, 1, 2, 4, 5, 6, 7, 8, 9])
    );
    let err = k.fails(&["get", "cm", "-n", "sel", "--field-selector", "data.i=3"]);
    assert!(err.contains("field label not supported: data.i"), "{err}");

    // --chunk-size=2: every item exactly once, fetched in pages of 2.
    let out = k.run(&[
        "get",
        "cm",
        "-n",
        "sel",
        "-l",
        "batch=ten",
        "--chunk-size=2",
        "-o",
        "name",
        "-v=6",
    ]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        lines(&text(&out.stdout)),
        cms(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    );
    let log = text(&out.stderr);
    let pages = log
        .lines()
        .filter(|l| l.contains("GET") && l.contains("limit=2") && l.contains("/configmaps"))
        .count();
    let continued = log
        .lines()
        .filter(|l| l.contains("GET") && l.contains("continue=") && l.contains("/configmaps"))
        .count();
    assert!(pages >= 5 && continued >= 4, "expected 5 pages:\n{log}");

    let page1 = json(
        &k,
        &["get", "--raw", "/api/v1/namespaces/sel/configmaps?limit=2"],
    );
    assert_eq!(page1["kind"], "ConfigMapList");
    let item_names = |v: &serde_json::Value| -> Vec<String> {
        v["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                i["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    };
    assert_eq!(item_names(&page1), ["cm-00", "cm-01"]);
    let token = page1["metadata"]["continue"].as_str().unwrap_or_default();
    assert!(!token.is_empty(), "no continue token: {page1}");
    let page2 = json(
        &k,
        &[
            "get",
            "--raw",
            &format!(
                "/api/v1/namespaces/sel/configmaps?limit=2&continue={}",
                percent_encode(token)
            ),
        ],
    );
    assert_eq!(item_names(&page2), ["cm-02", "cm-03"]);
    assert_eq!(
        page1["metadata"]["resourceVersion"], page2["metadata"]["resourceVersion"],
        "pages of one list share the snapshot's resourceVersion"
    );
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn get_watch(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    create_namespace(&k, "w");
    create_configmap(&k, "w", "before", &[]);
    let table = k.spawn_lines(&[
        "get",
        "configmaps",
        "-n",
        "w",
        "-w",
        "--output-watch-events",
    ]);
    let names = k.spawn_lines(&["get", "configmaps", "-n", "w", "-w", "-o", "name"]);
    let t = Duration::from_secs(15);
    assert!(
        table.wait_for(t, |l| l.contains("before"))
            && names.wait_for(t, |l| l == "configmap/before"),
        "initial list not shown: {:?} {:?} / {:?}",
        table.lines(),
        table.stderr_lines(),
        names.lines()
    );
    create_configmap(&k, "w", "a", &[("k", "v")]);
    assert_eq!(
        k.ok(&["label", "configmap", "a", "-n", "w", "x=y"]).trim(),
        "configmap/a labeled"
    );
    k.ok(&["delete", "configmap", "a", "-n", "w"]);
    assert!(
        table.wait_for(t, |l| l.starts_with("DELETED")
            && cols(l).get(1).map(String::as_str) == Some("a")),
        "no DELETED event: {:?} {:?}",
        table.lines(),
        table.stderr_lines()
    );
    assert!(
        names.wait_for(t, |_| names
            .lines()
            .iter()
            .filter(|l| *l == "configmap/a")
            .count()
            == 3),
        "-o name watch: {:?}",
        names.lines()
    );
    let got: Vec<String> = table
        .lines()
        .iter()
        .map(|l| cols(l))
        .filter(|c| c.len() >= 3 && (c[1] == "a" || c[1] == "before" || c[0] == "EVENT"))
        .map(|c| c[..3].join(" "))
        .collect();
    assert_eq!(
        got,
        [
            "EVENT NAME DATA",
            "ADDED before 0",
            "ADDED a 1",
            "MODIFIED a 1",
            "DELETED a 1"
        ]
    );
}

fn describe(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);
    k.ok(&["create", "-f", &fixture("pod.yaml")]);
    let has = |out: &str, want: &str| {
        assert!(
            lines(out).iter().any(|l| l == want),
            "describe lacks `{want}`:\n{out}"
        )
    };
    let starts = |out: &str, want: &str| {
        assert!(
            lines(out).iter().any(|l| l.starts_with(want)),
            "describe lacks a line starting `{want}`:\n{out}"
        )
    };

    let d = k.ok(&["describe", "deployment", "web", "-n", "shop"]);
    has(&d, "Name: web");
    has(&d, "Namespace: shop");
    has(&d, "Labels: app=web");
    has(&d, "Selector: app=web");
    starts(&d, "Replicas: 2 desired |");
    has(&d, "StrategyType: RollingUpdate");
    has(&d, "MinReadySeconds: 0");
    has(
        &d,
        "RollingUpdateStrategy: 25% max unavailable, 25% max surge",
    );
    has(&d, "Pod Template:");
    has(&d, "Image: nginx:1.27");
    has(&d, "KEEP: yes");
    starts(&d, "Events:");

    let p = k.ok(&["describe", "pod", "p1", "-n", "shop"]);
    has(&p, "Name: p1");
    has(&p, "Namespace: shop");
    has(&p, "Status: Pending");
    has(&p, "Containers:");
    has(&p, "Image: nginx:1.27");
    has(&p, "QoS Class: BestEffort");
    starts(&p, "Events:");

    let c = k.ok(&["describe", "configmap", "web-config", "-n", "shop"]);
    has(&c, "Name: web-config");
    has(&c, "Namespace: shop");
    has(&c, "Data");
    has(&c, "k1:");
    has(&c, "v1");
    has(&c, "BinaryData");
    has(&c, "Events: <none>");
}

fn label_and_annotate(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);
    let cm = ["get", "cm", "web-config", "-n", "shop"];
    let ns = ["-n", "shop"];
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&ns);
        k.ok(&a).trim().to_owned()
    };
    assert_eq!(
        run(&["label", "cm", "web-config", "env=prod"]),
        "configmap/web-config labeled"
    );
    assert_eq!(jsonpath(&k, &cm, "{.metadata.labels.env}"), "prod");
    let err = k.fails(&["label", "cm", "web-config", "env=dev", "-n", "shop"]);
    assert!(
        err.contains("'env' already has a value (prod), and --overwrite is false"),
        "{err}"
    );
    assert_eq!(
        run(&["label", "cm", "web-config", "env=dev", "--overwrite"]),
        "configmap/web-config labeled"
    );
    assert_eq!(jsonpath(&k, &cm, "{.metadata.labels.env}"), "dev");
    assert_eq!(
        run(&["label", "cm", "web-config", "env-"]),
        "configmap/web-config unlabeled"
    );
    let obj = json(&k, &["get", "cm", "web-config", "-n", "shop", "-o", "json"]);
    assert!(obj["metadata"]["labels"].get("env").is_none(), "{obj}");

    assert_eq!(
        run(&["annotate", "cm", "web-config", "note=hello world"]),
        "configmap/web-config annotated"
    );
    assert_eq!(
        jsonpath(&k, &cm, "{.metadata.annotations.note}"),
        "hello world"
    );
    assert_eq!(
        run(&["annotate", "cm", "web-config", "note-"]),
        "configmap/web-config annotated"
    );
    let obj = json(&k, &["get", "cm", "web-config", "-n", "shop", "-o", "json"]);
    assert!(
        obj["metadata"]["annotations"].get("note").is_none(),
        "{obj}"
    );

    // Labels on many objects at once, then select by them.
    k.ok(&["label", "deploy,svc", "--all", "-n", "shop", "team=blue"]);
    assert_eq!(
        lines(&k.ok(&[
            "get",
            "deploy,svc,cm",
            "-n",
            "shop",
            "-l",
            "team=blue",
            "-o",
            "name"
        ])),
        ["deployment.apps/web", "service/web"]
    );
}

fn patch_types(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);
    let cm = ["get", "cm", "web-config", "-n", "shop"];
    let patch = |what: &str, ty: &str, p: &str| {
        k.ok(&["patch", what, "web", "-n", "shop", "--type", ty, "-p", p])
            .trim()
            .to_owned()
    };
    let patch_cm = |ty: &str, p: &str| {
        k.ok(&[
            "patch",
            "cm",
            "web-config",
            "-n",
            "shop",
            "--type",
            ty,
            "-p",
            p,
        ])
        .trim()
        .to_owned()
    };

    assert_eq!(
        patch_cm("json", r#"[{"op":"add","path":"/data/k2","value":"v2"}]"#),
        "configmap/web-config patched"
    );
    assert_eq!(
        patch_cm(
            "json",
            r#"[{"op":"test","path":"/data/k1","value":"v1"},{"op":"replace","path":"/data/k1","value":"one"}]"#
        ),
        "configmap/web-config patched"
    );
    assert_eq!(
        patch_cm("merge", r#"{"data":{"k3":"v3","k2":null}}"#),
        "configmap/web-config patched"
    );
    assert_eq!(
        json(&k, &["get", "cm", "web-config", "-n", "shop", "-o", "json"])["data"],
        serde_json::json!({"k1": "one", "k3": "v3"})
    );
    // The same patch again changes nothing: no new resourceVersion, and kubectl says so.
    let rv = jsonpath(&k, &cm, "{.metadata.resourceVersion}");
    assert_eq!(
        patch_cm("merge", r#"{"data":{"k3":"v3"}}"#),
        "configmap/web-config patched (no change)"
    );
    assert_eq!(jsonpath(&k, &cm, "{.metadata.resourceVersion}"), rv);

    // A failing JSON patch test op: 422 and nothing changes.
    let out = k.run(&[
        "patch",
        "cm",
        "web-config",
        "-n",
        "shop",
        "--type",
        "json",
        "-p",
        r#"[{"op":"test","path":"/data/k1","value":"nope"},{"op":"remove","path":"/data/k1"}]"#,
    ]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("testing value /data/k1 failed"),
        "{}",
        show(&out)
    );
    assert_eq!(jsonpath(&k, &cm, "{.data.k1}"), "one");

    // Strategic merge (kubectl's default type) merges containers by name...
    let dep = ["get", "deploy", "web", "-n", "shop"];
    assert_eq!(
        k.ok(&[
            "patch", "deploy", "web", "-n", "shop", "-p",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#,
        ])
        .trim(),
        "deployment.apps/web patched"
    );
    // (Upstream puts patch items the live list lacks before the server-only ones.)
    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[*].name}"),
        "sidecar app"
    );
    assert_eq!(
        patch(
            "deploy",
            "strategic",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.29"}]}}}}"#
        ),
        "deployment.apps/web patched"
    );
    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[*].image}"),
        "busybox:1.36 nginx:1.29"
    );
    assert_eq!(
        patch(
            "deploy",
            "strategic",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","$patch":"delete"}]}}}}"#
        ),
        "deployment.apps/web patched"
    );
    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[*].name}"),
        "app"
    );
    // ...while a merge patch replaces the whole list.
    assert_eq!(
        patch(
            "deploy",
            "merge",
            r#"{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"busybox:1.36"}]}}}}"#
        ),
        "deployment.apps/web patched"
    );
    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[*].name}"),
        "only"
    );
    assert_eq!(
        jsonpath(
            &k,
            &dep,
            "{.spec.template.spec.containers[0].imagePullPolicy}"
        ),
        "IfNotPresent",
        "defaults apply to patched-in containers"
    );
    assert_eq!(
        patch(
            "svc",
            "json",
            r#"[{"op":"replace","path":"/spec/ports/0/port","value":8080}]"#
        ),
        "service/web patched"
    );
    assert_eq!(
        jsonpath(
            &k,
            &["get", "svc", "web", "-n", "shop"],
            "{.spec.ports[0].port}"
        ),
        "8080"
    );
}

fn edit_with_editor(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);
    let editor = s.data_dir().join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i -e 's/^  k1: v1$/  k1: edited/' -e 's/image: nginx:1.27$/image: nginx:1.28/' \"$1\"\n",
    )
    .expect("write editor");
    make_executable(&editor);

    let edit = |args: &[&str]| {
        let out = k
            .cmd(args)
            .env("KUBE_EDITOR", &editor)
            .env_remove("EDITOR")
            .output()
            .expect("kubectl edit");
        assert!(out.status.success(), "{}", show(&out));
        text(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        edit(&["edit", "cm", "web-config", "-n", "shop"]),
        "configmap/web-config edited"
    );
    assert_eq!(
        jsonpath(&k, &["get", "cm", "web-config", "-n", "shop"], "{.data.k1}"),
        "edited"
    );
    assert_eq!(
        edit(&["edit", "deployment/web", "-n", "shop"]),
        "deployment.apps/web edited"
    );
    let dep = ["get", "deploy", "web", "-n", "shop"];
    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[0].image}"),
        "nginx:1.28"
    );
    assert_eq!(jsonpath(&k, &dep, "{.metadata.generation}"), "2");

    // An editor that changes nothing: kubectl reports it and the object stays as it was.
    let rv = jsonpath(&k, &dep, "{.metadata.resourceVersion}");
    let noop = s.data_dir().join("noop.sh");
    std::fs::write(&noop, "#!/bin/sh\ntrue\n").expect("write editor");
    make_executable(&noop);
    let out = k
        .cmd(&["edit", "deployment/web", "-n", "shop"])
        .env("KUBE_EDITOR", &noop)
        .output()
        .expect("kubectl edit");
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("Edit cancelled, no changes made."),
        "{}",
        show(&out)
    );
    assert_eq!(jsonpath(&k, &dep, "{.metadata.resourceVersion}"), rv);
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn scale_set_image_rollout_restart(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);
    let dep = ["get", "deploy", "web", "-n", "shop"];
    assert_eq!(jsonpath(&k, &dep, "{.metadata.generation}"), "1");

    assert_eq!(
        k.ok(&["scale", "deployment", "web", "-n", "shop", "--replicas=3"])
            .trim(),
        "deployment.apps/web scaled"
    );
    assert_eq!(jsonpath(&k, &dep, "{.spec.replicas}"), "3");
    assert_eq!(jsonpath(&k, &dep, "{.metadata.generation}"), "2");
    let scale = json(
        &k,
        &[
            "get",
            "--raw",
            "/apis/apps/v1/namespaces/shop/deployments/web/scale",
        ],
    );
    assert_eq!(scale["kind"], "Scale");
    assert_eq!(scale["apiVersion"], "autoscaling/v1");
    assert_eq!(scale["spec"]["replicas"], 3);
    assert_eq!(scale["status"]["selector"], "app=web");
    // A precondition that does not hold: refused, nothing changes.
    let err = k.fails(&[
        "scale",
        "deployment",
        "web",
        "-n",
        "shop",
        "--current-replicas=7",
        "--replicas=1",
    ]);
    assert!(err.contains("Expected replicas to be 7, was 3"), "{err}");
    assert_eq!(jsonpath(&k, &dep, "{.spec.replicas}"), "3");

    assert_eq!(
        k.ok(&[
            "set",
            "image",
            "deployment/web",
            "-n",
            "shop",
            "app=nginx:2"
        ])
        .trim(),
        "deployment.apps/web image updated"
    );
    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[0].image}"),
        "nginx:2"
    );
    assert_eq!(jsonpath(&k, &dep, "{.metadata.generation}"), "3");

    assert_eq!(
        k.ok(&["rollout", "restart", "deployment/web", "-n", "shop"])
            .trim(),
        "deployment.apps/web restarted"
    );
    let at = jsonpath(
        &k,
        &dep,
        r"{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}",
    );
    assert!(
        at.len() >= 20 && at.contains('T') && at.starts_with("20"),
        "restartedAt is an RFC 3339 time: {at:?}"
    );
    assert_eq!(jsonpath(&k, &dep, "{.metadata.generation}"), "4");
    assert_eq!(
        jsonpath(&k, &dep, "{.spec.template.spec.containers[0].image}"),
        "nginx:2"
    );
}

fn diff(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);
    k.ok(&["apply", "-f", &fixture("diff-cm.yaml")]);

    let out = k.run(&["diff", "-f", &fixture("diff-cm.yaml")]);
    assert_eq!(out.status.code(), Some(0), "no changes: {}", show(&out));
    assert_eq!(text(&out.stdout), "");

    let out = k.run(&["diff", "-f", &fixture("everyday.yaml")]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "whole manifest, no changes: {}",
        show(&out)
    );
    assert_eq!(text(&out.stdout), "");

    let out = k.run(&["diff", "-f", &fixture("diff-cm-changed.yaml")]);
    assert_eq!(out.status.code(), Some(1), "changed: {}", show(&out));
    let d = text(&out.stdout);
    let dl: Vec<&str> = d.lines().collect();
    assert!(dl.contains(&"-  color: blue"), "{d}");
    assert!(dl.contains(&"+  color: green"), "{d}");
    assert!(
        dl.iter()
            .all(|l| !(l.starts_with("-  resourceVersion") || l.starts_with("+  resourceVersion"))),
        "a dry run must not touch resourceVersion:\n{d}"
    );
    // Diff is a dry run: the stored object is unchanged.
    assert_eq!(
        jsonpath(&k, &["get", "cm", "diffme", "-n", "shop"], "{.data.color}"),
        "blue"
    );
}

fn finalizer_delete_and_wait(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    let held = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: default\n  finalizers:\n  - example.com/hold\ndata:\n  k: v\n";
    assert_eq!(
        k.ok_stdin(&["create", "-f", "-"], held).trim(),
        "configmap/held created"
    );
    create_configmap(&k, "default", "stays", &[]);

    let mut waiter = k.spawn_lines(&[
        "wait",
        "--for=delete",
        "configmap/held",
        "-n",
        "default",
        "--timeout=60s",
    ]);
    let out = k.ok(&[
        "delete",
        "configmap",
        "held",
        "-n",
        "default",
        "--wait=false",
    ]);
    assert!(
        out.trim().starts_with("configmap \"held\" deleted"),
        "{out}"
    );

    let cm = ["get", "cm", "held", "-n", "default"];
    let ts = jsonpath(&k, &cm, "{.metadata.deletionTimestamp}");
    assert!(
        ts.starts_with("20") && ts.ends_with('Z'),
        "deletionTimestamp: {ts:?}"
    );
    assert_eq!(
        jsonpath(&k, &cm, "{.metadata.finalizers}"),
        r#"["example.com/hold"]"#
    );
    assert_eq!(jsonpath(&k, &cm, "{.data.k}"), "v");
    std::thread::sleep(Duration::from_millis(800));
    assert!(
        waiter.child.try_wait().expect("try_wait").is_none(),
        "wait --for=delete returned while the finalizer still holds: {:?} {:?}",
        waiter.lines(),
        waiter.stderr_lines()
    );
    // Updates other than finalizer removal still work on a terminating object.
    k.ok(&["label", "cm", "held", "-n", "default", "x=y"]);

    assert_eq!(
        k.ok(&[
            "patch",
            "configmap",
            "held",
            "-n",
            "default",
            "--type=json",
            "-p",
            r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
        ])
        .trim(),
        "configmap/held patched"
    );
    let start = Instant::now();
    let st = waiter.wait_exit(Duration::from_secs(20));
    assert!(
        st.is_some_and(|s| s.success()),
        "wait --for=delete did not complete ({st:?}) after {:?}: {:?} {:?}",
        start.elapsed(),
        waiter.lines(),
        waiter.stderr_lines()
    );
    assert_eq!(waiter.lines(), ["configmap/held condition met"]);
    let err = k.fails(&cm);
    assert!(
        err.contains("Error from server (NotFound): configmaps \"held\" not found"),
        "{err}"
    );

    // wait --for=delete on an object nobody deletes times out.
    let out = k.run(&[
        "wait",
        "--for=delete",
        "configmap/stays",
        "-n",
        "default",
        "--timeout=1s",
    ]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        text(&out.stderr).contains("timed out waiting for the condition on configmaps/stays"),
        "{}",
        show(&out)
    );
}

fn namespaces_and_kubernetes_service(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    let t = lines(&k.ok(&["get", "svc", "kubernetes", "-n", "default"]));
    assert_eq!(t[0], "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE");
    assert_eq!(
        cols(&t[1])[..5],
        ["kubernetes", "ClusterIP", "10.43.0.1", "<none>", "443/TCP"]
    );

    let t = lines(&k.ok(&["get", "ns"]));
    assert_eq!(t[0], "NAME STATUS AGE");
    let mut ns: Vec<String> = t[1..]
        .iter()
        .map(|l| {
            let c = cols(l);
            assert_eq!(c[1], "Active", "{l}");
            c[0].clone()
        })
        .collect();
    ns.sort();
    assert_eq!(
        ns,
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    );

    create_namespace(&k, "fresh");
    assert_eq!(
        jsonpath(&k, &["get", "ns", "fresh"], "{.status.phase}"),
        "Active"
    );
}

fn pods_and_get_all(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    apply_everyday(&k);
    assert_eq!(
        k.ok(&["create", "-f", &fixture("pod.yaml")]).trim(),
        "pod/p1 created"
    );
    let t = lines(&k.ok(&[
        "get",
        "pods",
        "-n",
        "shop",
        "--field-selector",
        "metadata.name=p1",
    ]));
    assert_eq!(t[0], "NAME READY STATUS RESTARTS AGE");
    let row = cols(&t[1]);
    assert_eq!(row[..4], ["p1", "0/1", "Pending", "0"], "{t:#?}");
    assert!(is_age(&row[4]), "{t:#?}");
    let t = lines(&k.ok(&["get", "pod", "p1", "-n", "shop", "-o", "wide"]));
    assert_eq!(
        t[0],
        "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES"
    );
    let row = cols(&t[1]);
    assert_eq!(row[..4], ["p1", "0/1", "Pending", "0"]);
    assert_eq!(row[5..], ["<none>", "<none>", "<none>", "<none>"], "{t:#?}");
    let all = lines(&k.ok(&["get", "all", "-n", "shop", "-o", "name"]));
    for want in [
        "pod/p1",
        "service/web",
        "daemonset.apps/agent",
        "deployment.apps/web",
        "statefulset.apps/db",
        "horizontalpodautoscaler.autoscaling/web",
        "cronjob.batch/nightly",
        "job.batch/once",
    ] {
        assert!(
            all.iter().any(|l| l == want),
            "get all lacks {want}: {all:#?}"
        );
    }
    assert!(
        all.iter()
            .all(|l| !l.starts_with("configmap/") && !l.starts_with("secret/")),
        "get all lists configmaps/secrets: {all:#?}"
    );
    let table = lines(&k.ok(&["get", "all", "-n", "shop"]));
    for want in [
        "deployment.apps/web",
        "service/web",
        "pod/p1",
        "cronjob.batch/nightly",
    ] {
        assert!(
            table.iter().any(|l| l.starts_with(&format!("{want} "))),
            "get all table lacks {want}: {table:#?}"
        );
    }

    // Pod defaults upstream fills in on create (the ServiceAccount admission plugin
    // sets serviceAccountName).
    let pod = json(&k, &["get", "pod", "p1", "-n", "shop", "-o", "json"]);
    assert_eq!(pod["status"]["phase"], "Pending");
    assert_eq!(pod["status"]["qosClass"], "BestEffort");
    assert_eq!(pod["spec"]["schedulerName"], "default-scheduler");
    assert_eq!(pod["spec"]["serviceAccountName"], "default");
}

/// kubectl's generators (`create namespace`, `create configmap`, `run`, `expose`...) send
/// their objects as protobuf, as typed client-go clients do.
fn imperative_create(kubectl: &Path) {
    let s = server();
    let k = s.kubectl_with(kubectl);
    let steps: &[(&[&str], &str)] = &[
        (&["create", "namespace", "imp"], "namespace/imp created"),
        (
            &[
                "create",
                "configmap",
                "c1",
                "-n",
                "imp",
                "--from-literal=a=b",
            ],
            "configmap/c1 created",
        ),
        (
            &[
                "create",
                "secret",
                "generic",
                "s1",
                "-n",
                "imp",
                "--from-literal=p=q",
            ],
            "secret/s1 created",
        ),
        (
            &[
                "create",
                "deployment",
                "d1",
                "-n",
                "imp",
                "--image=nginx:1.27",
            ],
            "deployment.apps/d1 created",
        ),
        (
            &["expose", "deployment", "d1", "-n", "imp", "--port=80"],
            "service/d1 exposed",
        ),
        (
            &["run", "p1", "-n", "imp", "--image=nginx:1.27"],
            "pod/p1 created",
        ),
        (
            &["create", "serviceaccount", "sa1", "-n", "imp"],
            "serviceaccount/sa1 created",
        ),
    ];
    for (args, want) in steps {
        assert_eq!(k.ok(args).trim(), *want, "kubectl {args:?}");
    }
    assert_eq!(
        jsonpath(&k, &["get", "cm", "c1", "-n", "imp"], "{.data.a}"),
        "b"
    );
    assert_eq!(
        jsonpath(&k, &["get", "secret", "s1", "-n", "imp"], "{.data.p}"),
        "cQ=="
    );
    assert_eq!(
        jsonpath(
            &k,
            &["get", "svc", "d1", "-n", "imp"],
            "{.spec.selector.app}"
        ),
        "d1"
    );
}
