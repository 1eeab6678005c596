//! Table-driven answers: a small cluster, a list of questions, one transcript.

use hickory_proto::rr::{Name, RecordType};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde_json::json;

use crate::answer::{answer, Outcome, Zone};
use crate::index::build;

fn service(ns: &str, name: &str, spec: serde_json::Value) -> Service {
    serde_json::from_value(json!({"metadata": {"name": name, "namespace": ns}, "spec": spec}))
        .unwrap()
}

fn slice(
    ns: &str,
    svc: &str,
    endpoints: serde_json::Value,
    ports: serde_json::Value,
) -> EndpointSlice {
    serde_json::from_value(json!({
        "metadata": {"name": format!("{svc}-abc"), "namespace": ns,
                     "labels": {"kubernetes.io/service-name": svc}},
        "addressType": "IPv4", "endpoints": endpoints, "ports": ports,
    }))
    .unwrap()
}

fn cluster() -> (crate::index::Index, Zone) {
    let services = vec![
        service(
            "default",
            "web",
            json!({"type": "ClusterIP", "clusterIP": "10.43.0.20", "clusterIPs": ["10.43.0.20"],
            "ports": [{"name": "http", "port": 80, "protocol": "TCP"}, {"port": 8080}]}),
        ),
        service(
            "shop",
            "db",
            json!({"clusterIP": "None", "clusterIPs": ["None"],
            "ports": [{"name": "pg", "port": 5432}]}),
        ),
        service(
            "shop",
            "empty",
            json!({"clusterIP": "None", "ports": [{"name": "x", "port": 1}]}),
        ),
        service(
            "shop",
            "ext",
            json!({"type": "ExternalName", "externalName": "Example.COM."}),
        ),
        service(
            "shop",
            "alias",
            json!({"type": "ExternalName", "externalName": "web.default.svc.cluster.local"}),
        ),
        service("shop", "pending", json!({"type": "ClusterIP"})),
    ];
    let slices = vec![
        slice(
            "default",
            "web",
            json!([{"addresses": ["10.42.0.7"], "conditions": {"ready": true}}]),
            json!([{"name": "http", "port": 8000, "protocol": "TCP"}]),
        ),
        slice(
            "shop",
            "db",
            json!([
                {"addresses": ["10.42.0.11"], "hostname": "db-0", "conditions": {"ready": true}},
                {"addresses": ["10.42.0.12"], "hostname": "db-1"},
                {"addresses": ["10.42.0.13"], "hostname": "db-2", "conditions": {"ready": false}},
                {"addresses": ["10.42.0.14"]},
            ]),
            json!([{"name": "pg", "port": 5432, "protocol": "TCP"}]),
        ),
    ];
    let mut zone = Zone::new("cluster.local").unwrap();
    zone.serial = 42;
    (build(&services, &slices), zone)
}

#[test]
fn answers() {
    let (index, zone) = cluster();
    let questions = [
        ("web.default.svc.cluster.local", RecordType::A),
        ("WEB.Default.svc.cluster.local.", RecordType::A),
        ("web.default.svc.cluster.local", RecordType::AAAA),
        ("web.default.svc.cluster.local", RecordType::TXT),
        ("web.default.svc.cluster.local", RecordType::SRV),
        ("_http._tcp.web.default.svc.cluster.local", RecordType::SRV),
        ("_http._udp.web.default.svc.cluster.local", RecordType::SRV),
        ("_http._tcp.web.default.svc.cluster.local", RecordType::A),
        ("10-42-0-7.web.default.svc.cluster.local", RecordType::A),
        ("db.shop.svc.cluster.local", RecordType::A),
        ("db-0.db.shop.svc.cluster.local", RecordType::A),
        ("db-2.db.shop.svc.cluster.local", RecordType::A),
        ("10-42-0-14.db.shop.svc.cluster.local", RecordType::A),
        ("_pg._tcp.db.shop.svc.cluster.local", RecordType::SRV),
        ("empty.shop.svc.cluster.local", RecordType::A),
        ("ext.shop.svc.cluster.local", RecordType::A),
        ("ext.shop.svc.cluster.local", RecordType::CNAME),
        ("alias.shop.svc.cluster.local", RecordType::A),
        ("pending.shop.svc.cluster.local", RecordType::A),
        ("nope.default.svc.cluster.local", RecordType::A),
        ("shop.svc.cluster.local", RecordType::A),
        ("ghost.svc.cluster.local", RecordType::A),
        ("svc.cluster.local", RecordType::A),
        ("cluster.local", RecordType::SOA),
        ("cluster.local", RecordType::NS),
        ("10-42-0-9.shop.pod.cluster.local", RecordType::A),
        ("10-42-0-9.shop.pod.cluster.local", RecordType::AAAA),
        ("bad.shop.pod.cluster.local", RecordType::A),
        ("a.b.c.d.e.f.cluster.local", RecordType::A),
        ("20.0.43.10.in-addr.arpa", RecordType::PTR),
        ("11.0.42.10.in-addr.arpa", RecordType::PTR),
        ("7.0.42.10.in-addr.arpa", RecordType::PTR),
        ("8.8.8.8.in-addr.arpa", RecordType::PTR),
        ("example.com", RecordType::A),
    ];
    let mut out = String::new();
    for (name, qtype) in questions {
        let q = Name::from_ascii(name).unwrap();
        out.push_str(&format!("? {name} {qtype}\n"));
        match answer(&index, &zone, &q, qtype) {
            Outcome::Forward => out.push_str("  forward\n"),
            Outcome::Reply(r) => {
                out.push_str(&format!("  {}\n", r.rcode));
                for (section, records) in [
                    ("an", &r.answers),
                    ("ad", &r.additionals),
                    ("ns", &r.authority),
                ] {
                    for rec in records {
                        out.push_str(&format!("  {section} {rec}\n"));
                    }
                }
                if let Some(c) = r.chase {
                    out.push_str(&format!("  chase {c}\n"));
                }
            }
        }
    }
    expect_test::expect![[r#"
        ? web.default.svc.cluster.local A
          No Error
          an web.default.svc.cluster.local 5 IN A 10.43.0.20
        ? WEB.Default.svc.cluster.local. A
          No Error
          an WEB.Default.svc.cluster.local. 5 IN A 10.43.0.20
        ? web.default.svc.cluster.local AAAA
          No Error
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? web.default.svc.cluster.local TXT
          No Error
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? web.default.svc.cluster.local SRV
          No Error
          an web.default.svc.cluster.local 5 IN SRV 0 100 80 web.default.svc.cluster.local.
          ad web.default.svc.cluster.local. 5 IN A 10.43.0.20
        ? _http._tcp.web.default.svc.cluster.local SRV
          No Error
          an _http._tcp.web.default.svc.cluster.local 5 IN SRV 0 100 80 web.default.svc.cluster.local.
          ad web.default.svc.cluster.local. 5 IN A 10.43.0.20
        ? _http._udp.web.default.svc.cluster.local SRV
          Non-Existent Domain
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? _http._tcp.web.default.svc.cluster.local A
          No Error
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? 10-42-0-7.web.default.svc.cluster.local A
          No Error
          an 10-42-0-7.web.default.svc.cluster.local 5 IN A 10.42.0.7
        ? db.shop.svc.cluster.local A
          No Error
          an db.shop.svc.cluster.local 5 IN A 10.42.0.11
          an db.shop.svc.cluster.local 5 IN A 10.42.0.12
          an db.shop.svc.cluster.local 5 IN A 10.42.0.14
        ? db-0.db.shop.svc.cluster.local A
          No Error
          an db-0.db.shop.svc.cluster.local 5 IN A 10.42.0.11
        ? db-2.db.shop.svc.cluster.local A
          Non-Existent Domain
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? 10-42-0-14.db.shop.svc.cluster.local A
          No Error
          an 10-42-0-14.db.shop.svc.cluster.local 5 IN A 10.42.0.14
        ? _pg._tcp.db.shop.svc.cluster.local SRV
          No Error
          an _pg._tcp.db.shop.svc.cluster.local 5 IN SRV 0 33 5432 db-0.db.shop.svc.cluster.local.
          an _pg._tcp.db.shop.svc.cluster.local 5 IN SRV 0 33 5432 db-1.db.shop.svc.cluster.local.
          an _pg._tcp.db.shop.svc.cluster.local 5 IN SRV 0 33 5432 10-42-0-14.db.shop.svc.cluster.local.
          ad db-0.db.shop.svc.cluster.local. 5 IN A 10.42.0.11
          ad db-1.db.shop.svc.cluster.local. 5 IN A 10.42.0.12
          ad 10-42-0-14.db.shop.svc.cluster.local. 5 IN A 10.42.0.14
        ? empty.shop.svc.cluster.local A
          No Error
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? ext.shop.svc.cluster.local A
          No Error
          an ext.shop.svc.cluster.local 5 IN CNAME example.com.
          chase example.com.
        ? ext.shop.svc.cluster.local CNAME
          No Error
          an ext.shop.svc.cluster.local 5 IN CNAME example.com.
        ? alias.shop.svc.cluster.local A
          No Error
          an alias.shop.svc.cluster.local 5 IN CNAME web.default.svc.cluster.local.
          chase web.default.svc.cluster.local.
        ? pending.shop.svc.cluster.local A
          Non-Existent Domain
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? nope.default.svc.cluster.local A
          Non-Existent Domain
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? shop.svc.cluster.local A
          No Error
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? ghost.svc.cluster.local A
          Non-Existent Domain
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? svc.cluster.local A
          No Error
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? cluster.local SOA
          No Error
          an cluster.local 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? cluster.local NS
          No Error
          an cluster.local 5 IN NS ns.dns.cluster.local.
        ? 10-42-0-9.shop.pod.cluster.local A
          No Error
          an 10-42-0-9.shop.pod.cluster.local 5 IN A 10.42.0.9
        ? 10-42-0-9.shop.pod.cluster.local AAAA
          No Error
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? bad.shop.pod.cluster.local A
          Non-Existent Domain
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? a.b.c.d.e.f.cluster.local A
          Non-Existent Domain
          ns cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 42 7200 1800 86400 5
        ? 20.0.43.10.in-addr.arpa PTR
          No Error
          an 20.0.43.10.in-addr.arpa 5 IN PTR web.default.svc.cluster.local.
        ? 11.0.42.10.in-addr.arpa PTR
          No Error
          an 11.0.42.10.in-addr.arpa 5 IN PTR db-0.db.shop.svc.cluster.local.
        ? 7.0.42.10.in-addr.arpa PTR
          No Error
          an 7.0.42.10.in-addr.arpa 5 IN PTR 10-42-0-7.web.default.svc.cluster.local.
        ? 8.8.8.8.in-addr.arpa PTR
          forward
        ? example.com A
          forward
    "#]].assert_eq(&out);
}
