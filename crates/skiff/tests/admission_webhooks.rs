//! Dynamic admission end to end: a mutating and a validating webhook served by this test
//! over HTTPS with its own CA, their failure policies once the webhook is gone, and
//! ValidatingAdmissionPolicies with Deny and Warn bindings, all driven with kubectl.
//! With `--nocapture` it also prints what a webhook and a CEL policy cost per write.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ObjectMeta, PostParams};
use serde_json::{json, Value};
use testkit::{eventually, Kubectl, Server};

/// A webhook server on 127.0.0.1 with a certificate from its own CA, on its own runtime
/// so kubectl blocking the test thread cannot stall it.
struct Webhook {
    addr: SocketAddr,
    ca_pem: String,
    calls: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Webhook {
    fn start() -> Webhook {
        let ca_key = rcgen::KeyPair::generate().expect("ca key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "webhook test ca");
        let ca_cert = ca_params.self_signed(&ca_key).expect("ca cert");
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
            .expect("params")
            .signed_by(&key, &issuer)
            .expect("cert");
        let certs = vec![rustls::pki_types::CertificateDer::from(cert.der().to_vec())];
        let key_der =
            rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, key_der)
            .expect("server config");
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let calls = Arc::new(AtomicUsize::new(0));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let counter = calls.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let accept = async {
                    loop {
                        let Ok((tcp, _)) = listener.accept().await else {
                            continue;
                        };
                        let acceptor = acceptor.clone();
                        let counter = counter.clone();
                        tokio::spawn(async move {
                            let Ok(tls) = acceptor.accept(tcp).await else {
                                return;
                            };
                            let service = hyper::service::service_fn(move |req| {
                                counter.fetch_add(1, Ordering::SeqCst);
                                review(req)
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(tls), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept => {}
                    _ = stopped => {}
                }
            });
            // Dropping the runtime ends every connection, so the apiserver's pooled ones
            // die with the listener.
            rt.shutdown_timeout(Duration::from_secs(1));
        });
        Webhook {
            addr,
            ca_pem: ca_cert.pem(),
            calls,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.addr)
    }

    fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca_pem)
    }

    fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.stop();
    }
}

const SEEN_LABEL: &str = "webhook.skiff.test/seen";

/// `/mutate` labels the object, `/validate` denies ConfigMaps with `data.forbidden`,
/// deletes of those with `data.protected`, and warns about `data.deprecated`; `/noop`
/// allows everything.
async fn review(
    req: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await?.to_bytes();
    let review: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let request = &review["request"];
    let object = &request["object"];
    let mut response = json!({"uid": request["uid"], "allowed": true});
    match path.as_str() {
        "/mutate" => {
            let patch = if object
                .pointer("/metadata/labels")
                .is_some_and(Value::is_object)
            {
                json!([{"op": "add", "path": "/metadata/labels/webhook.skiff.test~1seen", "value": "true"}])
            } else {
                json!([{"op": "add", "path": "/metadata/labels", "value": {SEEN_LABEL: "true"}}])
            };
            response["patchType"] = json!("JSONPatch");
            response["patch"] =
                json!(base64::engine::general_purpose::STANDARD.encode(patch.to_string()));
        }
        "/validate" => {
            if object.pointer("/data/forbidden").is_some() {
                response["allowed"] = json!(false);
                response["status"] = json!({"code": 403, "reason": "Forbidden", "message": "data.forbidden is not allowed"});
            }
            if request["operation"] == "DELETE"
                && request.pointer("/oldObject/data/protected").is_some()
            {
                response["allowed"] = json!(false);
                response["status"] = json!({"message": "protected ConfigMaps stay"});
            }
            if object.pointer("/data/deprecated").is_some() {
                response["warnings"] = json!(["data.deprecated will be ignored"]);
            }
        }
        _ => {}
    }
    let reply = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response});
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(reply.to_string())))
        .expect("response"))
}

fn webhook_config(kind: &str, name: &str, hook: &Webhook, path: &str, failure: &str) -> String {
    let operations = if kind == "ValidatingWebhookConfiguration" {
        json!(["CREATE", "UPDATE", "DELETE"])
    } else {
        json!(["CREATE", "UPDATE"])
    };
    json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name},
        "webhooks": [{
            "name": name,
            "clientConfig": {"url": hook.url(path), "caBundle": hook.ca_bundle()},
            "rules": [{"operations": operations, "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}],
            "objectSelector": {"matchExpressions": [{"key": "skip-webhooks", "operator": "DoesNotExist"}]},
            "sideEffects": "None",
            "admissionReviewVersions": ["v1"],
            "failurePolicy": failure,
            "timeoutSeconds": 5,
        }],
    })
    .to_string()
}

fn configmap(name: &str, data: Value) -> String {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"}, "data": data})
        .to_string()
}

/// Creates probe ConfigMaps until `pred` holds for the outcome (configurations reach
/// admission through the watch cache, a moment after kubectl returns).
fn until_admission(
    k: &Kubectl,
    what: &str,
    pred: impl Fn(&std::process::Output, &Kubectl) -> bool,
) {
    let n = AtomicUsize::new(0);
    eventually(
        what,
        Duration::from_secs(20),
        || {
            let name = format!("probe-{}", n.fetch_add(1, Ordering::SeqCst));
            let out = k.run_stdin(&["create", "-f", "-"], &configmap(&name, json!({})));
            let ok = pred(&out, k);
            let _ = k.run(&["delete", "configmap", &name, "--ignore-not-found"]);
            ok
        },
        |ok| *ok,
    );
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn webhooks_mutate_validate_and_fail() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();
    let mut hook = Webhook::start();

    k.ok_stdin(
        &["apply", "-f", "-"],
        &webhook_config(
            "MutatingWebhookConfiguration",
            "label.skiff.test",
            &hook,
            "/mutate",
            "Fail",
        ),
    );
    k.ok_stdin(
        &["apply", "-f", "-"],
        &webhook_config(
            "ValidatingWebhookConfiguration",
            "deny.skiff.test",
            &hook,
            "/validate",
            "Fail",
        ),
    );
    until_admission(
        &k,
        "the mutating webhook to label new ConfigMaps",
        |out, k| {
            out.status.success()
                && k.run(&["get", "configmap", "-o", "name", "-l", SEEN_LABEL])
                    .stdout
                    .starts_with(b"configmap/probe")
        },
    );

    // The mutation is stored.
    k.ok_stdin(
        &["create", "-f", "-"],
        &configmap("plain", json!({"a": "1"})),
    );
    let label = k.ok(&[
        "get",
        "configmap",
        "plain",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert_eq!(label, r#"{"webhook.skiff.test/seen":"true"}"#);

    // A quota on ConfigMaps: what a webhook refuses is never charged (ResourceQuota runs
    // after all other admission, as upstream orders it).
    k.ok(&["create", "quota", "cms", "--hard=count/configmaps=100"]);
    let used = || {
        k.ok(&[
            "get",
            "quota",
            "cms",
            "-o",
            "jsonpath={.status.used.count/configmaps}",
        ])
    };
    let before = testkit::eventually("the quota's usage", Duration::from_secs(15), used, |u| {
        !u.is_empty()
    });

    // Denied with the webhook's code and message, on create and on update, dry run too.
    let out = k.run_stdin(
        &["create", "-f", "-"],
        &configmap("bad", json!({"forbidden": "x"})),
    );
    assert!(!out.status.success());
    assert_eq!(used(), before, "a refused create was charged to the quota");
    assert!(
        stderr(&out).contains(r#"admission webhook "deny.skiff.test" denied the request: data.forbidden is not allowed"#),
        "{}",
        stderr(&out)
    );
    let err = k.fails(&[
        "patch",
        "configmap",
        "plain",
        "-p",
        r#"{"data":{"forbidden":"x"}}"#,
    ]);
    assert!(err.contains(r#"admission webhook "deny.skiff.test" denied the request: data.forbidden is not allowed"#), "{err}");
    let out = k.run_stdin(
        &["create", "--dry-run=server", "-f", "-"],
        &configmap("bad", json!({"forbidden": "x"})),
    );
    assert!(
        stderr(&out).contains("data.forbidden is not allowed"),
        "{}",
        stderr(&out)
    );
    assert!(k.run(&["get", "configmap", "bad"]).status.code() != Some(0));

    // Webhook warnings reach kubectl.
    let out = k.run_stdin(
        &["create", "-f", "-"],
        &configmap("old-style", json!({"deprecated": "x"})),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Warning: data.deprecated will be ignored"),
        "{}",
        stderr(&out)
    );

    // Deletes are validated against the stored object.
    k.ok_stdin(
        &["create", "-f", "-"],
        &configmap("keep", json!({"protected": "yes"})),
    );
    let err = k.fails(&["delete", "configmap", "keep"]);
    assert!(
        err.contains(
            r#"admission webhook "deny.skiff.test" denied the request: protected ConfigMaps stay"#
        ),
        "{err}"
    );
    k.ok(&["get", "configmap", "keep"]);

    // The webhook goes away: Fail refuses writes with upstream's message...
    let port = hook.addr.port();
    hook.stop();
    let out = k.run_stdin(&["create", "-f", "-"], &configmap("refused", json!({})));
    assert!(!out.status.success());
    let want = format!(
        "Internal error occurred: failed calling webhook \"label.skiff.test\": failed to call webhook: Post \"https://127.0.0.1:{port}/mutate?timeout=5s\": dial tcp 127.0.0.1:{port}: connect: connection refused"
    );
    assert!(stderr(&out).contains(&want), "{}", stderr(&out));

    // ...and Ignore lets them through unmutated.
    for (kind, name) in [
        ("mutatingwebhookconfiguration", "label.skiff.test"),
        ("validatingwebhookconfiguration", "deny.skiff.test"),
    ] {
        k.ok(&[
            "patch",
            kind,
            name,
            "--type=json",
            "-p",
            r#"[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"Ignore"}]"#,
        ]);
    }
    until_admission(&k, "failurePolicy Ignore to admit ConfigMaps", |out, _| {
        out.status.success()
    });
    k.ok_stdin(
        &["create", "-f", "-"],
        &configmap("ignored", json!({"forbidden": "x"})),
    );
    let label = k.ok(&[
        "get",
        "configmap",
        "ignored",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert_eq!(label, "");
}

const POLICIES: &str = r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: max-replicas
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  validations:
  - expression: "object.spec.replicas <= 5"
    message: "replicas must be no greater than 5"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: max-replicas-binding
spec:
  policyName: max-replicas
  validationActions: [Deny]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata:
  name: replica-hint
spec:
  matchConstraints:
    resourceRules:
    - apiGroups: ["apps"]
      apiVersions: ["v1"]
      operations: ["CREATE", "UPDATE"]
      resources: ["deployments"]
  validations:
  - expression: "object.spec.replicas <= 2"
    messageExpression: "'consider fewer than ' + string(object.spec.replicas) + ' replicas'"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata:
  name: replica-hint-binding
spec:
  policyName: replica-hint
  validationActions: [Warn]
"#;

#[test]
fn admission_policies_deny_and_warn() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();
    k.ok_stdin(&["apply", "-f", "-"], POLICIES);
    let n = AtomicUsize::new(0);
    let err = eventually(
        "the policy to deny 6 replicas",
        Duration::from_secs(20),
        || {
            let name = format!("probe-{}", n.fetch_add(1, Ordering::SeqCst));
            let out = k.run(&[
                "create",
                "deployment",
                &name,
                "--image=nginx",
                "--replicas=6",
            ]);
            let _ = k.run(&["delete", "deployment", &name, "--ignore-not-found"]);
            stderr(&out)
        },
        |err| err.contains("forbidden"),
    );
    assert!(err.contains(
        "is forbidden: ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: replicas must be no greater than 5"
    ), "{err}");
    let err = k.fails(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=6",
    ]);
    assert!(err.contains(r#"deployments.apps "web" is forbidden: ValidatingAdmissionPolicy 'max-replicas' with binding 'max-replicas-binding' denied request: replicas must be no greater than 5"#), "{err}");

    let out = k.run(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--replicas=3",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(
        "Warning: Validation failed for ValidatingAdmissionPolicy 'replica-hint' with binding 'replica-hint-binding': consider fewer than 3 replicas"
    ), "{}", stderr(&out));
    // Updates are checked too.
    let err = k.fails(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"replicas":9}}"#,
    ]);
    assert!(
        err.contains("denied request: replicas must be no greater than 5"),
        "{err}"
    );
}

/// Median and mean milliseconds of `n` sequential ConfigMap creates through kube-rs. The
/// median because a store sync now and then stretches single writes.
async fn create_latency(api: &Api<ConfigMap>, prefix: &str, n: usize) -> (f64, f64) {
    let mut ms = Vec::with_capacity(n);
    for i in 0..n {
        let cm = ConfigMap {
            metadata: ObjectMeta {
                name: Some(format!("{prefix}-{i}")),
                ..Default::default()
            },
            data: Some([("k".to_string(), "v".to_string())].into()),
            ..Default::default()
        };
        let start = Instant::now();
        api.create(&PostParams::default(), &cm)
            .await
            .expect("create");
        ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    (ms[n / 2], ms.iter().sum::<f64>() / n as f64)
}

/// Not a pass/fail check: prints the cost of a no-op webhook and of a CEL policy per
/// ConfigMap create (run with `--nocapture`).
#[test]
fn admission_overhead() {
    let s = Server::start(Path::new(env!("CARGO_BIN_EXE_skiff")));
    let k = s.kubectl();
    let hook = Webhook::start();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(async {
        let kc = kube::config::Kubeconfig::read_from(s.kubeconfig()).expect("kubeconfig");
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
            .await
            .expect("config");
        kube::Client::try_from(cfg).expect("client")
    });
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    const N: usize = 200;
    // Warm up connections and caches.
    rt.block_on(create_latency(&api, "warm", 20));
    let plain = rt.block_on(create_latency(&api, "plain", N));

    let mut config: Value = serde_json::from_str(&webhook_config(
        "ValidatingWebhookConfiguration",
        "noop.skiff.test",
        &hook,
        "/noop",
        "Fail",
    ))
    .expect("json");
    config["webhooks"][0]["objectSelector"] = json!({});
    k.ok_stdin(&["apply", "-f", "-"], &config.to_string());
    until_admission(&k, "the no-op webhook to be called", |_, _| {
        hook.calls.load(Ordering::SeqCst) > 0
    });
    let before = hook.calls.load(Ordering::SeqCst);
    let hooked = rt.block_on(create_latency(&api, "hooked", N));
    assert_eq!(hook.calls.load(Ordering::SeqCst) - before, N);
    k.ok(&[
        "delete",
        "validatingwebhookconfiguration",
        "noop.skiff.test",
    ]);

    k.ok_stdin(
        &["apply", "-f", "-"],
        r#"
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: cm-size}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE"], resources: ["configmaps"]}
  validations:
  - expression: "!has(object.data) || object.data.size() < 100"
  - expression: "object.metadata.name.size() < 64"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: cm-size}
spec: {policyName: cm-size, validationActions: [Deny]}
"#,
    );
    // Wait until the policy is active: a ConfigMap with a 70-character name is refused.
    let long = "x".repeat(70);
    eventually(
        "the policy to be active",
        Duration::from_secs(20),
        || {
            k.run_stdin(&["create", "-f", "-"], &configmap(&long, json!({})))
                .status
                .success()
        },
        |ok| !ok,
    );
    let policed = rt.block_on(create_latency(&api, "policed", N));
    println!(
        "admission cost over {N} sequential ConfigMap creates, median/mean ms per create: \
         none {:.2}/{:.2}, no-op validating webhook {:.2}/{:.2}, 2-rule CEL policy {:.2}/{:.2}",
        plain.0, plain.1, hooked.0, hooked.1, policed.0, policed.1
    );
}
