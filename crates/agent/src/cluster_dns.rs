//! The node-local cluster DNS: the `dns` crate's server on the pod bridge's gateway address
//! (port 53, UDP and TCP), published as this node's EndpointSlice of `kube-system/kube-dns`
//! so the service proxy sends the DNS service's traffic (internalTrafficPolicy Local) here.
//! Each node binds its own bridge address, so test clusters on one machine never collide.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, PostParams};
use kube::Api;

use crate::Error;

pub const NAMESPACE: &str = "kube-system";
pub const SERVICE: &str = "kube-dns";
const MANAGED_BY: &str = "skiff-agent";

pub struct ClusterDns {
    server: dns::Dns,
    slices: Api<EndpointSlice>,
    slice: String,
}

impl ClusterDns {
    /// Withdraws this node's endpoint, then stops answering.
    pub async fn shutdown(self) {
        if let Err(e) = self
            .slices
            .delete(&self.slice, &DeleteParams::default())
            .await
        {
            if !matches!(&e, kube::Error::Api(s) if s.code == 404) {
                tracing::warn!(error = %e, "deleting the node's kube-dns EndpointSlice");
            }
        }
        self.server.shutdown().await;
    }
}

/// The first address of the pod CIDR: the bridge's, where pods' traffic to the node goes.
pub fn gateway(pod_cidr: &str) -> Option<Ipv4Addr> {
    let (ip, bits) = pod_cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    Some(Ipv4Addr::from((u32::from(ip) & mask) + 1))
}

pub fn slice_name(node: &str) -> String {
    format!("{SERVICE}-{node}")
}

fn slice(node: &str, ip: Ipv4Addr) -> Result<EndpointSlice, Error> {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": slice_name(node), "namespace": NAMESPACE, "labels": {
            "kubernetes.io/service-name": SERVICE,
            "endpointslice.kubernetes.io/managed-by": MANAGED_BY,
        }},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [ip.to_string()], "nodeName": node,
                       "conditions": {"ready": true, "serving": true, "terminating": false}}],
        "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                  {"name": "dns-tcp", "port": 53, "protocol": "TCP"}],
    }))
    .map_err(|e| Error::Config(format!("kube-dns EndpointSlice: {e}")))
}

/// Starts the server on the gateway of `pod_cidr` and publishes the node's endpoint.
pub async fn start(
    client: kube::Client,
    node: &str,
    domain: &str,
    pod_cidr: &str,
    host: &dns::resolv::ResolvConf,
) -> Result<ClusterDns, Error> {
    let ip = gateway(pod_cidr)
        .ok_or_else(|| Error::Config(format!("pod CIDR {pod_cidr:?}: not an IPv4 network")))?;
    let server = dns::run(
        client.clone(),
        dns::Config {
            domain: domain.to_string(),
            listen: SocketAddr::new(IpAddr::V4(ip), 53),
            upstreams: host
                .nameservers
                .iter()
                .map(|ip| SocketAddr::new(*ip, 53))
                .collect(),
            workers: 2,
        },
    )
    .map_err(|e| Error::Config(format!("cluster DNS: {e}")))?;
    let slices: Api<EndpointSlice> = Api::namespaced(client, NAMESPACE);
    let mut want = slice(node, ip)?;
    let name = slice_name(node);
    let published = match slices.create(&PostParams::default(), &want).await {
        Err(kube::Error::Api(s)) if s.code == 409 => match slices.get(&name).await {
            Ok(current) => {
                want.metadata.resource_version = current.metadata.resource_version;
                slices.replace(&name, &PostParams::default(), &want).await
            }
            Err(e) => Err(e),
        },
        r => r,
    };
    if let Err(e) = published {
        server.shutdown().await;
        return Err(Error::Api(
            "publishing the node's kube-dns EndpointSlice".into(),
            e,
        ));
    }
    tracing::info!(%ip, %domain, "cluster DNS serving");
    Ok(ClusterDns {
        server,
        slices,
        slice: name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways() {
        for (cidr, want) in [
            ("10.42.0.0/24", Some("10.42.0.1")),
            ("10.42.3.0/24", Some("10.42.3.1")),
            ("10.99.7.128/25", Some("10.99.7.129")),
            ("fd00::/64", None),
            ("junk", None),
        ] {
            assert_eq!(
                gateway(cidr).map(|ip| ip.to_string()).as_deref(),
                want,
                "{cidr}"
            );
        }
    }
}
