//! A pod's resolv.conf (the CRI sandbox's DNS config) from its dnsPolicy and dnsConfig, as
//! the kubelet builds it. Pure.

use std::net::IpAddr;

use k8s_openapi::api::core::v1::Pod;

/// Upstream's limits (glibc's before 2.26 for nameservers; the kubelet's for searches).
pub const MAX_NAMESERVERS: usize = 3;
pub const MAX_SEARCHES: usize = 32;
pub const MAX_SEARCH_CHARS: usize = 2048;

/// What the node knows: the cluster DNS (`--cluster-dns`, `--cluster-domain`) and the
/// host's resolv.conf.
#[derive(Clone, Debug, Default)]
pub struct Settings {
    pub cluster_dns: Vec<IpAddr>,
    pub domain: String,
    pub host: dns::resolv::ResolvConf,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodDns {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

enum Kind {
    Cluster,
    Host,
    None,
}

fn push_unique(list: &mut Vec<String>, items: impl IntoIterator<Item = String>) {
    for i in items {
        if !list.contains(&i) {
            list.push(i);
        }
    }
}

/// Options by name; a later value for a name replaces the earlier one in place.
fn merge_options(list: &mut Vec<String>, name: &str, value: Option<&str>) {
    let text = match value {
        Some(v) => format!("{name}:{v}"),
        None => name.to_string(),
    };
    match list.iter().position(|o| o.split(':').next() == Some(name)) {
        Some(i) => list[i] = text,
        None => list.push(text),
    }
}

pub fn build(pod: &Pod, s: &Settings) -> PodDns {
    let spec = pod.spec.clone().unwrap_or_default();
    let host_network = spec.host_network.unwrap_or(false);
    let mut kind = match spec.dns_policy.as_deref() {
        Some("None") => Kind::None,
        Some("Default") => Kind::Host,
        Some("ClusterFirstWithHostNet") => Kind::Cluster,
        _ if host_network => Kind::Host,
        _ => Kind::Cluster,
    };
    if matches!(kind, Kind::Cluster) && s.cluster_dns.is_empty() {
        // The kubelet's fallback without --cluster-dns.
        kind = Kind::Host;
    }
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut out = PodDns::default();
    match kind {
        Kind::Cluster => {
            out.servers = s.cluster_dns.iter().map(IpAddr::to_string).collect();
            let d = &s.domain;
            push_unique(
                &mut out.searches,
                [format!("{ns}.svc.{d}"), format!("svc.{d}"), d.clone()],
            );
            push_unique(&mut out.searches, s.host.searches.iter().cloned());
            out.options = vec!["ndots:5".into()];
        }
        Kind::Host => {
            out.servers = s.host.nameservers.iter().map(IpAddr::to_string).collect();
            out.searches = s.host.searches.clone();
            out.options = s.host.options.clone();
        }
        Kind::None => {}
    }
    if let Some(c) = &spec.dns_config {
        push_unique(&mut out.servers, c.nameservers.iter().flatten().cloned());
        push_unique(
            &mut out.searches,
            c.searches
                .iter()
                .flatten()
                .map(|s| s.trim_end_matches('.').to_string()),
        );
        for o in c.options.iter().flatten() {
            if let Some(name) = o.name.as_deref().filter(|n| !n.is_empty()) {
                merge_options(&mut out.options, name, o.value.as_deref());
            }
        }
    }
    out.servers.truncate(MAX_NAMESERVERS);
    out.searches.truncate(MAX_SEARCHES);
    let mut chars = 0;
    out.searches.retain(|s| {
        chars += s.len() + 1;
        chars <= MAX_SEARCH_CHARS
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn policies() {
        let settings = Settings {
            cluster_dns: vec!["10.43.0.10".parse().unwrap()],
            domain: "cluster.local".into(),
            host: dns::resolv::ResolvConf::parse(
                "nameserver 10.0.0.2\nsearch corp.example\noptions edns0\n",
            ),
        };
        let many: Vec<String> = (0..40).map(|i| format!("s{i}.example")).collect();
        let cases = [
            (json!({}), "ns=[10.43.0.10] search=[shop.svc.cluster.local, svc.cluster.local, cluster.local, corp.example] opts=[ndots:5]"),
            (json!({"dnsPolicy": "ClusterFirst", "hostNetwork": true}), "ns=[10.0.0.2] search=[corp.example] opts=[edns0]"),
            (json!({"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": true}), "ns=[10.43.0.10] search=[shop.svc.cluster.local, svc.cluster.local, cluster.local, corp.example] opts=[ndots:5]"),
            (json!({"dnsPolicy": "Default"}), "ns=[10.0.0.2] search=[corp.example] opts=[edns0]"),
            (json!({"dnsPolicy": "None", "dnsConfig": {"nameservers": ["1.1.1.1"], "searches": ["a.example."], "options": [{"name": "ndots", "value": "2"}, {"name": "rotate"}]}}),
             "ns=[1.1.1.1] search=[a.example] opts=[ndots:2, rotate]"),
            (json!({"dnsConfig": {"nameservers": ["1.1.1.1", "10.43.0.10", "2.2.2.2", "3.3.3.3"], "searches": ["cluster.local", "x.example"], "options": [{"name": "ndots", "value": "1"}, {"name": "timeout", "value": "2"}]}}),
             "ns=[10.43.0.10, 1.1.1.1, 2.2.2.2] search=[shop.svc.cluster.local, svc.cluster.local, cluster.local, corp.example, x.example] opts=[ndots:1, timeout:2]"),
            (json!({"dnsPolicy": "None", "dnsConfig": {"searches": many}}), "searches=32"),
        ];
        for (spec, want) in cases {
            let mut spec = spec;
            spec["containers"] = json!([{"name": "c", "image": "i"}]);
            let pod: Pod = serde_json::from_value(
                json!({"metadata": {"name": "p", "namespace": "shop"}, "spec": spec.clone()}),
            )
            .unwrap();
            let d = build(&pod, &settings);
            let got = if want.starts_with("searches=") {
                format!("searches={}", d.searches.len())
            } else {
                format!(
                    "ns=[{}] search=[{}] opts=[{}]",
                    d.servers.join(", "),
                    d.searches.join(", "),
                    d.options.join(", ")
                )
            };
            assert_eq!(got, want, "{spec}");
        }
        let none = Settings {
            cluster_dns: vec![],
            ..settings
        };
        let pod: Pod =
            serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": []}}))
                .unwrap();
        assert_eq!(build(&pod, &none).servers, vec!["10.0.0.2".to_string()]);
    }
}
