//! A rule's backend resolved to the addresses requests go to: the Service's port found by
//! number or name, then the ready endpoints of its EndpointSlices for that port (the
//! slices carry the target port, so named target ports need no pod lookup). Requests go
//! straight to the pods, not through the service proxy. Pure.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::IngressBackend;

/// Where a rule sends requests, resolved at table build time.
#[derive(Debug)]
pub struct Target {
    /// `namespace/name` of the Service, or of the resource for a resource backend.
    pub service: String,
    /// The ready endpoints, or why there are none (a 503's body says it).
    pub endpoints: Result<Vec<SocketAddr>, String>,
    next: AtomicUsize,
}

impl Target {
    fn new(service: String, endpoints: Result<Vec<SocketAddr>, String>) -> Target {
        Target {
            service,
            endpoints,
            next: AtomicUsize::new(0),
        }
    }

    /// The next endpoint, round-robin.
    pub fn pick(&self) -> Result<SocketAddr, &str> {
        match &self.endpoints {
            Ok(eps) if !eps.is_empty() => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                Ok(eps[i % eps.len()])
            }
            Ok(_) => Err("no ready endpoints"),
            Err(why) => Err(why),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum PortRef {
    Number(i32),
    Name(String),
}

/// Resolves backends against one snapshot of Services and EndpointSlices; equal backends
/// share one [`Target`] (and so one round-robin counter).
pub struct Resolver<'a> {
    services: HashMap<String, &'a Service>,
    slices: HashMap<String, Vec<&'a EndpointSlice>>,
    seen: HashMap<(String, String, PortRef), Arc<Target>>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        services: impl IntoIterator<Item = &'a Service>,
        slices: impl IntoIterator<Item = &'a EndpointSlice>,
    ) -> Resolver<'a> {
        let services = services
            .into_iter()
            .map(|s| {
                (
                    key(s.metadata.namespace.as_deref(), s.metadata.name.as_deref()),
                    s,
                )
            })
            .collect();
        let mut by_service: HashMap<String, Vec<&EndpointSlice>> = HashMap::new();
        for s in slices {
            let Some(svc) = s
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/service-name"))
            else {
                continue;
            };
            by_service
                .entry(key(s.metadata.namespace.as_deref(), Some(svc)))
                .or_default()
                .push(s);
        }
        Resolver {
            services,
            slices: by_service,
            seen: HashMap::new(),
        }
    }

    pub fn resolve(&mut self, namespace: &str, backend: &IngressBackend) -> Arc<Target> {
        let Some(svc) = &backend.service else {
            let name = backend
                .resource
                .as_ref()
                .map(|r| format!("{namespace}/{}", r.name))
                .unwrap_or_default();
            return Arc::new(Target::new(
                name,
                Err("resource backends are not supported".into()),
            ));
        };
        let port = match svc.port.as_ref() {
            Some(p) => match (&p.name, p.number) {
                (Some(n), _) if !n.is_empty() => PortRef::Name(n.clone()),
                (_, Some(n)) => PortRef::Number(n),
                _ => PortRef::Number(0),
            },
            None => PortRef::Number(0),
        };
        let id = (namespace.to_string(), svc.name.clone(), port);
        if let Some(t) = self.seen.get(&id) {
            return t.clone();
        }
        let name = format!("{namespace}/{}", svc.name);
        let endpoints = self.endpoints(&name, &id.2);
        let target = Arc::new(Target::new(name, endpoints));
        self.seen.insert(id, target.clone());
        target
    }

    fn endpoints(&self, service: &str, port: &PortRef) -> Result<Vec<SocketAddr>, String> {
        let svc = self
            .services
            .get(service)
            .ok_or_else(|| format!("service {service} not found"))?;
        let ports = svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let sp = ports
            .iter()
            .find(|p| match port {
                PortRef::Number(n) => p.port == *n,
                PortRef::Name(n) => p.name.as_deref() == Some(n.as_str()),
            })
            .ok_or_else(|| {
                let shown = match port {
                    PortRef::Number(n) => n.to_string(),
                    PortRef::Name(n) => format!("{n:?}"),
                };
                format!("service {service} has no port {shown}")
            })?;
        let port_name = sp.name.as_deref().unwrap_or("");
        let mut out = Vec::new();
        for slice in self.slices.get(service).into_iter().flatten() {
            let Some(target_port) = slice.ports.iter().flatten().find_map(|p| {
                let same = p.name.as_deref().unwrap_or("") == port_name
                    && p.protocol.as_deref().unwrap_or("TCP") == "TCP";
                same.then_some(p.port).flatten()
            }) else {
                continue;
            };
            let Ok(target_port) = u16::try_from(target_port) else {
                continue;
            };
            for ep in slice.endpoints.iter().flatten() {
                // Unset readiness counts as ready, as the EndpointSlice API says.
                if ep.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                    continue;
                }
                // An endpoint's addresses are fungible: the first is enough.
                if let Some(ip) = ep.addresses.first().and_then(|a| a.parse::<IpAddr>().ok()) {
                    out.push(SocketAddr::new(ip, target_port));
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

fn key(namespace: Option<&str>, name: Option<&str>) -> String {
    format!("{}/{}", namespace.unwrap_or(""), name.unwrap_or(""))
}
