//! `skiff bench crd`: what custom resources cost against the same count of ConfigMaps —
//! server memory for the stored collection, and create latency/throughput with schema
//! validation, defaults and a CEL rule on every write — plus server-side apply against
//! plain updates. Prints a Markdown report.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use crate::bench::{client, closed_loop, req, rss_kib, start_server};

#[derive(clap::Args)]
pub struct CrdArgs {
    /// Objects of each collection.
    #[arg(long, default_value_t = 10_000)]
    objects: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Where the servers' data dirs go.
    #[arg(long, default_value = "/var/tmp")]
    dir: PathBuf,
}

const CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
 "metadata":{"name":"widgets.bench.skiff.dev"},
 "spec":{"group":"bench.skiff.dev","scope":"Namespaced","names":{"plural":"widgets","kind":"Widget"},
  "versions":[{"name":"v1","served":true,"storage":true,"subresources":{"status":{}},
   "schema":{"openAPIV3Schema":{"type":"object","properties":{
    "spec":{"type":"object","required":["color"],
     "x-kubernetes-validations":[{"rule":"self.replicas <= self.maxReplicas","message":"replicas may not exceed maxReplicas"}],
     "properties":{"color":{"type":"string","enum":["red","green","blue"]},
      "replicas":{"type":"integer","minimum":0,"default":1},
      "maxReplicas":{"type":"integer","default":10},
      "owner":{"type":"string","maxLength":64},
      "note":{"type":"string"}}}}}}}]}}"#;

/// The same payload both ways: four short strings and two numbers.
fn payload(i: usize) -> (Value, Value) {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": format!("o-{i}"), "labels": {"app": "bench"}},
        "data": {"color": "red", "replicas": "3", "maxReplicas": "10", "owner": "team-a", "note": "a short note"}});
    let cr = json!({"apiVersion": "bench.skiff.dev/v1", "kind": "Widget",
        "metadata": {"name": format!("o-{i}"), "labels": {"app": "bench"}},
        "spec": {"color": "red", "replicas": 3, "maxReplicas": 10, "owner": "team-a", "note": "a short note"}});
    (cm, cr)
}

struct Collection {
    rss_idle_kib: u64,
    rss_full_kib: u64,
    row: String,
    apply_row: Option<String>,
}

async fn fill(args: &CrdArgs, custom: bool) -> anyhow::Result<Collection> {
    let server = start_server(&args.dir)?;
    let pid = server.child.id();
    let c = client(&server.kubeconfig).await?;
    if custom {
        let crd: Value = serde_json::from_str(CRD)?;
        c.request_text(req(
            "POST",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            Some(&crd),
            "application/json",
        )?)
        .await?;
        // Served once established (the CRD controller's next step).
        for _ in 0..100 {
            let r = c
                .request_text(req(
                    "GET",
                    "/apis/bench.skiff.dev/v1/namespaces/default/widgets",
                    None,
                    "application/json",
                )?)
                .await;
            if r.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_idle_kib = rss_kib(pid);
    let per = args.objects.div_ceil(args.clients);
    let path = if custom {
        "/apis/bench.skiff.dev/v1/namespaces/default/widgets"
    } else {
        "/api/v1/namespaces/default/configmaps"
    };
    let cc = c.clone();
    let name = if custom {
        "create (Widget: schema, defaults, CEL rule)"
    } else {
        "create (ConfigMap)"
    };
    let mut run = closed_loop(name, args.clients, per, move |ci, i| {
        let c = cc.clone();
        async move {
            let (cm, cr) = payload(ci * 1_000_000 + i);
            let body = if custom { cr } else { cm };
            c.request_text(req("POST", path, Some(&body), "application/json")?)
                .await?;
            Ok(())
        }
    })
    .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_full_kib = rss_kib(pid);
    let row = run.row();
    // Server-side apply of a changed field over every object (custom collection only).
    let apply_row = if custom {
        let cc = c.clone();
        let mut apply = closed_loop("server-side apply (Widget, one field changed)", args.clients, per, move |ci, i| {
            let c = cc.clone();
            async move {
                let name = format!("o-{}", ci * 1_000_000 + i);
                let body = json!({"apiVersion": "bench.skiff.dev/v1", "kind": "Widget", "metadata": {"name": name},
                    "spec": {"color": "blue", "replicas": 3, "maxReplicas": 10}});
                c.request_text(req(
                    "PATCH",
                    &format!("{path}/{name}?fieldManager=bench&force=true"),
                    Some(&body),
                    "application/apply-patch+yaml",
                )?)
                .await?;
                Ok(())
            }
        })
        .await?;
        Some(apply.row())
    } else {
        None
    };
    Ok(Collection {
        rss_idle_kib,
        rss_full_kib,
        row,
        apply_row,
    })
}

pub async fn crd(args: CrdArgs) -> anyhow::Result<()> {
    let cms = fill(&args, false).await?;
    let crs = fill(&args, true).await?;
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "### `skiff bench crd --objects {} --clients {}`\n",
        args.objects, args.clients
    );
    println!("| collection | idle RSS | RSS with objects | growth |");
    println!("|---|---|---|---|");
    for (name, c) in [("ConfigMaps", &cms), ("Widgets (custom resource)", &crs)] {
        println!(
            "| {} × {name} | {:.1} MiB | {:.1} MiB | {:.1} MiB |",
            args.objects,
            mib(c.rss_idle_kib),
            mib(c.rss_full_kib),
            mib(c.rss_full_kib.saturating_sub(c.rss_idle_kib))
        );
    }
    println!("\n| run | requests | p50 | p99 | per second |\n|---|---|---|---|---|");
    println!("{}", cms.row);
    println!("{}", crs.row);
    if let Some(r) = &crs.apply_row {
        println!("{r}");
    }
    Ok(())
}
