//! Objects every cluster has from the start: the four default namespaces, the
//! `default/kubernetes` Service with its endpoints pointing at this apiserver, the
//! `kube-system/kube-dns` Service (every node agent serves DNS and publishes its own
//! endpoint for it), the built-in PriorityClasses and the default StorageClass
//! `local-path` (the built-in local-path provisioner's, as k3s ships it) and the default
//! IngressClass `skiff` (the ingress controller every node agent runs); the default RBAC
//! ClusterRoles and bindings ([`crate::authz::default_roles`]); then the Gateway API CRDs
//! and the GatewayClass `skiff` ([`crate::gateway_api`]).

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Value};

use crate::{objects, Api};

pub(crate) async fn ensure(
    api: &Arc<Api>,
    group: &str,
    plural: &str,
    mut obj: Value,
) -> Result<(), store::Error> {
    let Some(info) = registry::catalog::find(group, "v1", plural) else {
        return Ok(());
    };
    let strategy = registry::strategies::for_resource(group, plural);
    let uid = uuid::Uuid::new_v4().to_string();
    let now = objects::now_rfc3339();
    let ctx = registry::generic::CreateContext {
        uid: &uid,
        now: &now,
        name_suffix: "",
    };
    let errs = registry::generic::prepare_create(info, strategy, &mut obj, &ctx);
    if !errs.is_empty() {
        tracing::error!(?errs, plural, "bootstrap object invalid");
        return Ok(());
    }
    let name = objects::name(&obj).to_string();
    let key = match objects::meta_str(&obj, "namespace") {
        Some(ns) => format!("/registry/{}/{ns}/{name}", info.storage_prefix),
        None => format!("/registry/{}/{name}", info.storage_prefix),
    };
    if plural == "services" {
        api.alloc.seed(&obj);
    }
    match api
        .store
        .create(
            &key,
            bytes::Bytes::from(serde_json::to_vec(&obj).unwrap_or_default()),
        )
        .await
    {
        Ok(_) | Err(store::Error::AlreadyExists(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A default RBAC object: created when missing, else (marked `autoupdate`) given what it
/// lacks, as upstream's apiserver reconciles its bootstrap policy on every start.
async fn ensure_rbac_default(
    api: &Arc<Api>,
    plural: &str,
    desired: Value,
) -> Result<(), store::Error> {
    let group = "rbac.authorization.k8s.io";
    let key = format!(
        "{}{}",
        crate::authz::storage_prefix(group, plural),
        objects::name(&desired)
    );
    let (existing, _) = api.store.get(&key).await?;
    let Some(kv) = existing else {
        return ensure(api, group, plural, desired).await;
    };
    let Ok(have) = serde_json::from_slice::<Value>(&kv.value) else {
        return Ok(());
    };
    if !crate::authz::default_roles::autoupdate(&have) {
        return Ok(());
    }
    if let Some(next) = crate::authz::default_roles::reconcile(&have, &desired) {
        let bytes = bytes::Bytes::from(serde_json::to_vec(&next).unwrap_or_default());
        match api.store.update(&key, bytes, kv.mod_revision).await {
            Ok(_) => tracing::info!(
                plural,
                name = objects::name(&next),
                "default RBAC object reconciled"
            ),
            // Someone wrote it meanwhile; the next start looks again.
            Err(e) => tracing::warn!(plural, error = %e, "default RBAC object not reconciled"),
        }
    }
    Ok(())
}

pub async fn run(api: &Arc<Api>, advertise: IpAddr, port: u16) -> Result<(), store::Error> {
    // Services that already exist hold their addresses.
    let (services, _) = api.cache.list("/registry/services/specs/");
    for s in services {
        api.alloc.seed(&s.value());
    }
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        ensure(api, "", "namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}}})).await?;
    }
    let ip = api.alloc.first_ip().to_string();
    ensure(api, "", "services", json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"type": "ClusterIP", "clusterIP": ip, "clusterIPs": [ip], "sessionAffinity": "None",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]},
    })).await?;
    ensure(api, "", "endpoints", json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": advertise.to_string()}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    })).await?;
    ensure(api, "discovery.k8s.io", "endpointslices", json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [advertise.to_string()], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    })).await?;
    if let Some(dns) = api.alloc.dns_ip().map(|ip| ip.to_string()) {
        ensure(api, "", "services", json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {
                "k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"}},
            "spec": {"type": "ClusterIP", "clusterIP": dns, "clusterIPs": [dns], "sessionAffinity": "None",
                     "internalTrafficPolicy": "Local",
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53}]},
        })).await?;
    }
    for pc in registry::strategies::scheduling::priorityclasses::system_classes() {
        ensure(api, "scheduling.k8s.io", "priorityclasses", pc).await?;
    }
    // Only into a cluster without any StorageClass: an administrator who deleted it and
    // made another class the default must not find it back (and default) after a restart.
    let (classes, _) = api.cache.list("/registry/storageclasses/");
    if classes.is_empty() {
        ensure(api, "storage.k8s.io", "storageclasses", json!({
            "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            "provisioner": "rancher.io/local-path",
            "reclaimPolicy": "Delete",
            "volumeBindingMode": "WaitForFirstConsumer",
        })).await?;
    }
    // Likewise: an administrator's own default class is not challenged after a restart.
    let (classes, _) = api.cache.list("/registry/ingressclasses/");
    if classes.is_empty() {
        ensure(api, "networking.k8s.io", "ingressclasses", json!({
            "apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
            "metadata": {"name": "skiff", "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"}},
            "spec": {"controller": "skiff.io/ingress"},
        })).await?;
    }
    for role in crate::authz::default_roles::cluster_roles() {
        ensure_rbac_default(api, "clusterroles", role).await?;
    }
    for binding in crate::authz::default_roles::cluster_role_bindings() {
        ensure_rbac_default(api, "clusterrolebindings", binding).await?;
    }
    crate::gateway_api::ensure(api).await
}
