//! Issue 7's flood: 1,000 concurrent requests from one ordinary user (half large LISTs,
//! half creates) against a server with lowered in-flight limits
//! (`--max-requests-inflight 40`, `--max-mutating-requests-inflight 20`, so that a
//! two-core test machine reliably fills them: with the defaults, 400/200, a debug build
//! served all 1,000 at once without refusing any). Some requests
//! must get upstream's 429 with `Retry-After`, none may hang or get a 5xx, and `/healthz`
//! and `/readyz` must keep answering 200 within a second while the flood runs. With the
//! limits removed (0) no request is refused and the test fails.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use testkit::{eventually, Server};

const TOKEN: &str = "flood-token-0123456789abcdef";
const NAMESPACE: &str = "flood";
/// ConfigMaps seeded so that each LIST is large (about 1.6 MB) and slow to serve.
const SEEDED: usize = 200;
const LISTS: usize = 500;
const CREATES: usize = 500;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
const PROBE_BOUND: Duration = Duration::from_secs(1);

/// A client of `s` whose credential is `bearer` (`None`: anonymous), not retrying 429s
/// itself (kube's default), so the test sees every answer.
async fn client(s: &Server, bearer: Option<&str>) -> kube::Client {
    let kc = Kubeconfig::read_from(s.kubeconfig()).expect("admin kubeconfig");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    // Drop the admin's client certificate: it would authenticate first.
    cfg.auth_info = Default::default();
    if let Some(t) = bearer {
        cfg.headers.push((
            http::header::AUTHORIZATION,
            http::HeaderValue::from_str(&format!("Bearer {t}")).expect("header"),
        ));
    }
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client")
}

async fn admin(s: &Server) -> kube::Client {
    let kc = Kubeconfig::read_from(s.kubeconfig()).expect("admin kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    kube::Client::try_from(cfg).expect("client")
}

/// One request's outcome: status and `Retry-After`, or what went wrong.
#[derive(Debug)]
enum Outcome {
    Answered {
        status: u16,
        retry_after: Option<String>,
    },
    Failed(String),
}

async fn send(c: &kube::Client, method: http::Method, path: &str, body: Vec<u8>) -> Outcome {
    let req = http::Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(kube::client::Body::from(body))
        .expect("request");
    let sent = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let resp = c.send(req).await?;
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get(http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        // Read the whole body: a response that stalls half way counts as hung.
        use http_body_util::BodyExt;
        resp.into_body().collect().await?;
        Ok::<_, kube::Error>(Outcome::Answered {
            status,
            retry_after,
        })
    })
    .await;
    match sent {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => Outcome::Failed(e.to_string()),
        Err(_) => Outcome::Failed(format!("no answer within {REQUEST_TIMEOUT:?}")),
    }
}

fn configmap(name: &str, size: usize) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {"blob": "x".repeat(size)},
    }))
    .expect("json")
}

/// GETs `path` anonymously over and over until `stop`; the slowest answer and every
/// answer that was not a 200.
async fn probe(
    c: kube::Client,
    path: &'static str,
    stop: Arc<AtomicBool>,
) -> (Duration, Vec<String>, usize) {
    let (mut slowest, mut bad, mut n) = (Duration::ZERO, Vec::new(), 0);
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let out = send(&c, http::Method::GET, path, Vec::new()).await;
        slowest = slowest.max(t.elapsed());
        n += 1;
        if !matches!(out, Outcome::Answered { status: 200, .. }) {
            bad.push(format!("{path}: {out:?}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (slowest, bad, n)
}

#[test]
fn a_flood_gets_429s_and_health_checks_still_answer() {
    let files = tempfile::tempdir().expect("tempdir");
    let tokens = files.path().join("tokens.csv");
    std::fs::write(&tokens, format!("{TOKEN},flood-user,flood-uid\n")).expect("tokens");
    let s = Server::start_with(
        Path::new(env!("CARGO_BIN_EXE_skiff")),
        &[
            "--max-requests-inflight",
            "40",
            "--max-mutating-requests-inflight",
            "20",
            "--token-auth-file",
            tokens.to_str().expect("utf-8"),
        ],
    );
    let kubectl = s.kubectl();
    kubectl.ok(&["create", "namespace", NAMESPACE]);
    kubectl.ok(&[
        "create",
        "rolebinding",
        "flood-edit",
        "--clusterrole=edit",
        "--user=flood-user",
        "-n",
        NAMESPACE,
    ]);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let admin = admin(&s).await;
        for i in 0..SEEDED {
            let path = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
            let out = send(&admin, http::Method::POST, &path, configmap(&format!("seed-{i}"), 8 * 1024)).await;
            assert!(matches!(out, Outcome::Answered { status: 201, .. }), "seeding: {out:?}");
        }
        let user = client(&s, Some(TOKEN)).await;
        // The binding is in force before the flood starts.
        let list_path = format!("/api/v1/namespaces/{NAMESPACE}/configmaps");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match send(&user, http::Method::GET, &list_path, Vec::new()).await {
                Outcome::Answered { status: 200, .. } => break,
                other => assert!(Instant::now() < deadline, "the user may list: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        let stop = Arc::new(AtomicBool::new(false));
        // Each probe has its own connection, made before the flood: what is measured is the
        // server's answer, not a TLS handshake queued behind a thousand others.
        let mut probes = Vec::new();
        for path in ["/healthz", "/readyz"] {
            let anon = client(&s, None).await;
            let warm = send(&anon, http::Method::GET, path, Vec::new()).await;
            assert!(matches!(warm, Outcome::Answered { status: 200, .. }), "{path}: {warm:?}");
            probes.push(tokio::spawn(probe(anon, path, stop.clone())));
        }
        let mut flood = Vec::new();
        for i in 0..LISTS.max(CREATES) {
            if i < LISTS {
                let (c, p) = (user.clone(), list_path.clone());
                flood.push(tokio::spawn(async move {
                    send(&c, http::Method::GET, &p, Vec::new()).await
                }));
            }
            if i < CREATES {
                let (c, p) = (user.clone(), list_path.clone());
                flood.push(tokio::spawn(async move {
                    send(&c, http::Method::POST, &p, configmap(&format!("flood-{i}"), 1024)).await
                }));
            }
        }
        let started = Instant::now();
        let mut outcomes = Vec::new();
        for f in flood {
            outcomes.push(f.await.expect("flood task"));
        }
        let flood_took = started.elapsed();
        stop.store(true, Ordering::Relaxed);
        let mut probe_results = Vec::new();
        for p in probes {
            probe_results.push(p.await.expect("probe task"));
        }

        let mut by_status = std::collections::BTreeMap::<u16, usize>::new();
        let mut failures = Vec::new();
        for o in &outcomes {
            match o {
                Outcome::Answered { status, retry_after } => {
                    *by_status.entry(*status).or_default() += 1;
                    if *status == 429 {
                        assert_eq!(retry_after.as_deref(), Some("1"), "429 without Retry-After");
                    }
                }
                Outcome::Failed(why) => failures.push(why.clone()),
            }
        }
        eprintln!("flood of {} took {flood_took:?}: {by_status:?}; probes (slowest, bad, count): {probe_results:?}", outcomes.len());
        assert!(failures.is_empty(), "hung or broken requests: {:?}", &failures[..failures.len().min(5)]);
        assert!(
            by_status.keys().all(|c| matches!(c, 200 | 201 | 429)),
            "unexpected answers (5xx?): {by_status:?}"
        );
        assert!(by_status.get(&429).copied().unwrap_or(0) > 0, "no request was refused: {by_status:?}");
        assert!(
            by_status.get(&200).copied().unwrap_or(0) > 0 && by_status.get(&201).copied().unwrap_or(0) > 0,
            "the server served none of one kind: {by_status:?}"
        );
        for (slowest, bad, n) in &probe_results {
            assert!(*n > 0, "no health check ran during the flood");
            assert!(bad.is_empty(), "health checks failed during the flood: {bad:?}");
            assert!(*slowest <= PROBE_BOUND, "a health check took {slowest:?} during the flood");
        }
    });
    // Once the flood is over, the user is served again.
    eventually(
        "the user served again",
        Duration::from_secs(10),
        || {
            kubectl
                .run(&[
                    "get",
                    "configmaps",
                    "-n",
                    NAMESPACE,
                    "--as",
                    "flood-user",
                    "-o",
                    "name",
                ])
                .status
                .success()
        },
        |ok| *ok,
    );
}
