//! Pod spec defaulting and validation, shared by pods and every kind with a pod template.

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_env_var_name, is_qualified_name,
    is_valid_label_value, is_valid_port_name, is_valid_port_num, validate_annotations,
    validate_labels,
};
use serde_json::{json, Value};
use std::collections::HashSet;

use crate::strategies::json::{
    array_at, bool_at, each_mut, get, i64_at, object_at, set_default, str_at,
};
use apimachinery::quantity;

const CONTAINER_LISTS: [&str; 2] = ["initContainers", "containers"];

/// Upstream's `SetDefaults_PodSpec` and the per-container/volume defaulters below it.
pub(crate) fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "schedulerName", json!("default-scheduler"));
    // v1 keeps the deprecated `serviceAccount` alias in step with `serviceAccountName`.
    let sa = str_at(spec, &["serviceAccountName"]).to_string();
    let deprecated = str_at(spec, &["serviceAccount"]).to_string();
    if sa.is_empty() && !deprecated.is_empty() {
        spec["serviceAccountName"] = json!(deprecated);
    } else if !sa.is_empty() {
        spec["serviceAccount"] = json!(sa);
    }
    for list in CONTAINER_LISTS.iter().chain(&["ephemeralContainers"]) {
        each_mut(spec, list, default_container);
    }
    each_mut(spec, "volumes", default_volume);
}

/// Defaults only a Pod (not a template) gets: service links, requests from limits, host
/// ports under hostNetwork.
pub(crate) fn default_pod_only(spec: &mut Value) {
    set_default(spec, "enableServiceLinks", json!(true));
    let host_network = bool_at(spec, &["hostNetwork"]) == Some(true);
    for list in CONTAINER_LISTS {
        each_mut(spec, list, |c| {
            if let Some(limits) = object_at(c, &["resources", "limits"]).cloned() {
                if let Some(resources) = c.get_mut("resources") {
                    set_default(resources, "requests", json!({}));
                    if let Some(requests) =
                        resources.get_mut("requests").and_then(Value::as_object_mut)
                    {
                        for (k, v) in limits {
                            requests.entry(k).or_insert(v);
                        }
                    }
                }
            }
            if host_network {
                each_mut(c, "ports", |p| {
                    if i64_at(p, &["hostPort"]).unwrap_or(0) == 0 {
                        if let Some(cp) = get(p, &["containerPort"]).cloned() {
                            p["hostPort"] = cp;
                        }
                    }
                });
            }
        });
    }
}

/// An ephemeral container gets the same defaults as any other container.
pub(crate) fn default_ephemeral_container(c: &mut Value) {
    default_container(c);
}

fn default_container(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    let policy = if image_tag_is_latest(str_at(c, &["image"])) {
        "Always"
    } else {
        "IfNotPresent"
    };
    set_default(c, "imagePullPolicy", json!(policy));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    // Upstream's `resources` is a plain struct, so it always serializes, as `{}` at least.
    set_default(c, "resources", json!({}));
    each_mut(c, "ports", |p| set_default(p, "protocol", json!("TCP")));
    each_mut(c, "env", |e| {
        if let Some(field_ref) = e.get_mut("valueFrom").and_then(|v| v.get_mut("fieldRef")) {
            set_default(field_ref, "apiVersion", json!("v1"));
        }
    });
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            set_default(p, "timeoutSeconds", json!(1));
            set_default(p, "periodSeconds", json!(10));
            set_default(p, "successThreshold", json!(1));
            set_default(p, "failureThreshold", json!(3));
            default_handler(p);
        }
    }
    if let Some(lifecycle) = c.get_mut("lifecycle") {
        for hook in ["postStart", "preStop"] {
            if let Some(h) = lifecycle.get_mut(hook) {
                default_handler(h);
            }
        }
    }
}

fn default_handler(h: &mut Value) {
    if let Some(http) = h.get_mut("httpGet").filter(|v| v.is_object()) {
        set_default(http, "path", json!("/"));
        set_default(http, "scheme", json!("HTTP"));
    }
    if let Some(grpc) = h.get_mut("grpc").filter(|v| v.is_object()) {
        set_default(grpc, "service", json!(""));
    }
}

/// `latest`, or no tag and no digest, pulls always (upstream's `ParseImageName` rule).
fn image_tag_is_latest(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.split_once(':') {
        Some((_, tag)) => tag == "latest",
        None => true,
    }
}

fn default_volume(v: &mut Value) {
    const SOURCES_WITH_MODE: [&str; 4] = ["secret", "configMap", "downwardAPI", "projected"];
    for src in SOURCES_WITH_MODE {
        if let Some(s) = v.get_mut(src).filter(|s| s.is_object()) {
            set_default(s, "defaultMode", json!(420));
        }
    }
    let has_source = v.as_object().is_some_and(|m| m.keys().any(|k| k != "name"));
    if !has_source {
        set_default(v, "emptyDir", json!({}));
    }
    if let Some(hp) = v.get_mut("hostPath").filter(|s| s.is_object()) {
        set_default(hp, "type", json!(""));
    }
    if let Some(spec) = v
        .pointer_mut("/ephemeral/volumeClaimTemplate/spec")
        .filter(|s| s.is_object())
    {
        set_default(spec, "volumeMode", json!("Filesystem"));
    }
}

/// Upstream's QoS class of a (defaulted) pod spec.
pub(crate) fn qos_class(spec: &Value) -> &'static str {
    const COMPUTE: [&str; 2] = ["cpu", "memory"];
    let nonzero = |m: Option<&serde_json::Map<String, Value>>, r: &str| {
        m.and_then(|m| m.get(r))
            .and_then(quantity::parse)
            .filter(|q| *q != 0.0)
    };
    let resource_sets: Vec<&Value> = if get(spec, &["resources"]).is_some() {
        vec![&spec["resources"]]
    } else {
        CONTAINER_LISTS
            .iter()
            .flat_map(|l| array_at(spec, &[l]))
            .map(|c| c.get("resources").unwrap_or(&Value::Null))
            .collect()
    };
    let mut any = false;
    let mut guaranteed = true;
    for r in resource_sets {
        let requests = object_at(r, &["requests"]);
        let limits = object_at(r, &["limits"]);
        for res in COMPUTE {
            let (req, lim) = (nonzero(requests, res), nonzero(limits, res));
            any |= req.is_some() || lim.is_some();
            if lim.is_none() || req.is_some_and(|q| Some(q) != lim) {
                guaranteed = false;
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const TERMINATION_MESSAGE_POLICIES: &[&str] = &["File", "FallbackToLogsOnError"];
const TOLERATION_OPERATORS: &[&str] = &["Equal", "Exists"];
const TAINT_EFFECTS: &[&str] = &["NoSchedule", "PreferNoSchedule", "NoExecute"];

/// A pod template: labels and annotations of its metadata, then its spec.
pub(crate) fn validate_pod_template(template: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let meta = path.child("metadata");
    errs.extend(validate_labels(
        get(template, &["metadata", "labels"]),
        meta.child("labels").as_str(),
    ));
    errs.extend(validate_annotations(
        get(template, &["metadata", "annotations"]),
        meta.child("annotations").as_str(),
    ));
    let spec = template.get("spec").unwrap_or(&Value::Null);
    errs.extend(validate_pod_spec(spec, &path.child("spec")));
    if !array_at(spec, &["ephemeralContainers"]).is_empty() {
        errs.push(FieldError::forbidden(
            path.child("spec").child("ephemeralContainers"),
            "ephemeral containers not allowed in pod template",
        ));
    }
    errs
}

/// Upstream's `ValidatePodSpec`, the parts that matter to users.
pub(crate) fn validate_pod_spec(spec: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let volumes = validate_volumes(spec, &path.child("volumes"), &mut errs);
    let host_network = bool_at(spec, &["hostNetwork"]) == Some(true);
    if array_at(spec, &["containers"]).is_empty() {
        errs.push(FieldError::required(path.child("containers"), ""));
    }
    let mut names = HashSet::new();
    for list in CONTAINER_LISTS {
        for (i, c) in array_at(spec, &[list]).iter().enumerate() {
            let p = path.child(list).index(i);
            validate_container(c, &p, &volumes, host_network, &mut names, &mut errs);
        }
    }
    let targets: Vec<&str> = CONTAINER_LISTS
        .iter()
        .flat_map(|list| array_at(spec, &[list]))
        .map(|c| str_at(c, &["name"]))
        .collect();
    for (i, c) in array_at(spec, &["ephemeralContainers"]).iter().enumerate() {
        let p = path.child("ephemeralContainers").index(i);
        validate_container(c, &p, &volumes, host_network, &mut names, &mut errs);
        validate_ephemeral(c, &p, &targets, &mut errs);
    }
    match str_at(spec, &["restartPolicy"]) {
        "" => errs.push(FieldError::required(path.child("restartPolicy"), "")),
        p if !RESTART_POLICIES.contains(&p) => errs.push(FieldError::not_supported(
            path.child("restartPolicy"),
            p,
            RESTART_POLICIES,
        )),
        _ => {}
    }
    let dns = str_at(spec, &["dnsPolicy"]);
    if !dns.is_empty() && !DNS_POLICIES.contains(&dns) {
        errs.push(FieldError::not_supported(
            path.child("dnsPolicy"),
            dns,
            DNS_POLICIES,
        ));
    }
    if let Some(n) = i64_at(spec, &["activeDeadlineSeconds"]) {
        if !(1..=i64::from(i32::MAX)).contains(&n) {
            errs.push(FieldError::invalid(
                path.child("activeDeadlineSeconds"),
                n,
                "must be between 1 and 2147483647, inclusive",
            ));
        }
    }
    errs.extend(validate_labels(
        get(spec, &["nodeSelector"]),
        path.child("nodeSelector").as_str(),
    ));
    let sa = str_at(spec, &["serviceAccountName"]);
    if !sa.is_empty() {
        for msg in is_dns1123_subdomain(sa) {
            errs.push(FieldError::invalid(
                path.child("serviceAccountName"),
                sa,
                msg,
            ));
        }
    }
    for key in ["hostname", "subdomain"] {
        let v = str_at(spec, &[key]);
        if !v.is_empty() {
            for msg in is_dns1123_label(v) {
                errs.push(FieldError::invalid(path.child(key), v, msg));
            }
        }
    }
    for (i, t) in array_at(spec, &["tolerations"]).iter().enumerate() {
        validate_toleration(t, &path.child("tolerations").index(i), &mut errs);
    }
    errs
}

/// Volume names (must be unique DNS labels); returns the names for volumeMount checks.
fn validate_volumes(spec: &Value, path: &Path, errs: &mut FieldErrors) -> HashSet<String> {
    let mut names = HashSet::new();
    for (i, v) in array_at(spec, &["volumes"]).iter().enumerate() {
        let p = path.index(i).child("name");
        let name = str_at(v, &["name"]);
        if name.is_empty() {
            errs.push(FieldError::required(p, ""));
            continue;
        }
        for msg in is_dns1123_label(name) {
            errs.push(FieldError::invalid(&p, name, msg));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(&p, name));
        }
    }
    names
}

fn validate_container(
    c: &Value,
    path: &Path,
    volumes: &HashSet<String>,
    host_network: bool,
    names: &mut HashSet<String>,
    errs: &mut FieldErrors,
) {
    let name = str_at(c, &["name"]);
    if name.is_empty() {
        errs.push(FieldError::required(path.child("name"), ""));
    } else {
        for msg in is_dns1123_label(name) {
            errs.push(FieldError::invalid(path.child("name"), name, msg));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(path.child("name"), name));
        }
    }
    let image = str_at(c, &["image"]);
    if image.is_empty() {
        errs.push(FieldError::required(path.child("image"), ""));
    } else if image.trim() != image {
        errs.push(FieldError::invalid(
            path.child("image"),
            image,
            "must not have leading or trailing whitespace",
        ));
    }
    let pull = str_at(c, &["imagePullPolicy"]);
    if !pull.is_empty() && !PULL_POLICIES.contains(&pull) {
        errs.push(FieldError::not_supported(
            path.child("imagePullPolicy"),
            pull,
            PULL_POLICIES,
        ));
    }
    let tmp = str_at(c, &["terminationMessagePolicy"]);
    if !tmp.is_empty() && !TERMINATION_MESSAGE_POLICIES.contains(&tmp) {
        errs.push(FieldError::not_supported(
            path.child("terminationMessagePolicy"),
            tmp,
            TERMINATION_MESSAGE_POLICIES,
        ));
    }
    validate_ports(c, &path.child("ports"), host_network, errs);
    for (i, e) in array_at(c, &["env"]).iter().enumerate() {
        let p = path.child("env").index(i).child("name");
        let n = str_at(e, &["name"]);
        if n.is_empty() {
            errs.push(FieldError::required(p, ""));
        } else {
            for msg in is_env_var_name(n) {
                errs.push(FieldError::invalid(&p, n, msg));
            }
        }
    }
    for (i, m) in array_at(c, &["volumeMounts"]).iter().enumerate() {
        let p = path.child("volumeMounts").index(i);
        let n = str_at(m, &["name"]);
        if n.is_empty() {
            errs.push(FieldError::required(p.child("name"), ""));
        } else if !volumes.contains(n) {
            errs.push(FieldError::not_found(p.child("name"), n));
        }
        if str_at(m, &["mountPath"]).is_empty() {
            errs.push(FieldError::required(p.child("mountPath"), ""));
        }
    }
    validate_resources(
        c.get("resources").unwrap_or(&Value::Null),
        &path.child("resources"),
        errs,
    );
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = get(c, &[probe]) {
            validate_handler(
                p,
                &path.child(probe),
                &["exec", "httpGet", "tcpSocket", "grpc"],
                errs,
            );
            for key in [
                "initialDelaySeconds",
                "timeoutSeconds",
                "periodSeconds",
                "successThreshold",
                "failureThreshold",
            ] {
                if let Some(n) = i64_at(p, &[key]).filter(|n| *n < 0) {
                    errs.push(FieldError::invalid(
                        path.child(probe).child(key),
                        n,
                        "must be greater than or equal to 0",
                    ));
                }
            }
        }
    }
    for hook in ["postStart", "preStop"] {
        if let Some(h) = get(c, &["lifecycle", hook]) {
            validate_handler(
                h,
                &path.child("lifecycle").child(hook),
                &["exec", "httpGet", "tcpSocket", "sleep"],
                errs,
            );
        }
    }
}

/// What an ephemeral container may not have: it gets no guarantees (resources), serves
/// nothing (ports, probes) and is never restarted or hooked into the pod's lifecycle.
const EPHEMERAL_FORBIDDEN: [&str; 8] = [
    "ports",
    "livenessProbe",
    "readinessProbe",
    "startupProbe",
    "lifecycle",
    "resources",
    "resizePolicy",
    "restartPolicy",
];

fn validate_ephemeral(c: &Value, path: &Path, targets: &[&str], errs: &mut FieldErrors) {
    for key in EPHEMERAL_FORBIDDEN {
        let set = match c.get(key) {
            None | Some(Value::Null) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(_) => true,
        };
        if set {
            errs.push(FieldError::forbidden(
                path.child(key),
                "cannot be set for an Ephemeral Container",
            ));
        }
    }
    let target = str_at(c, &["targetContainerName"]);
    if !target.is_empty() && !targets.contains(&target) {
        errs.push(FieldError::not_found(
            path.child("targetContainerName"),
            target,
        ));
    }
}

/// Exactly one way to probe (or run a hook) must be given.
fn validate_handler(h: &Value, path: &Path, kinds: &[&str], errs: &mut FieldErrors) {
    let count = kinds.iter().filter(|k| get(h, &[k]).is_some()).count();
    match count {
        0 => errs.push(FieldError::required(path, "must specify a handler type")),
        1 => {}
        _ => errs.push(FieldError::forbidden(
            path,
            "may not specify more than 1 handler type",
        )),
    }
}

fn validate_ports(c: &Value, path: &Path, host_network: bool, errs: &mut FieldErrors) {
    let mut names = HashSet::new();
    for (i, port) in array_at(c, &["ports"]).iter().enumerate() {
        let p = path.index(i);
        let name = str_at(port, &["name"]);
        if !name.is_empty() {
            for msg in is_valid_port_name(name) {
                errs.push(FieldError::invalid(p.child("name"), name, msg));
            }
            if !names.insert(name.to_string()) {
                errs.push(FieldError::duplicate(p.child("name"), name));
            }
        }
        let container_port = i64_at(port, &["containerPort"]).unwrap_or(0);
        if container_port == 0 {
            errs.push(FieldError::required(p.child("containerPort"), ""));
        } else {
            for msg in is_valid_port_num(container_port) {
                errs.push(FieldError::invalid(
                    p.child("containerPort"),
                    container_port,
                    msg,
                ));
            }
        }
        let host_port = i64_at(port, &["hostPort"]).unwrap_or(0);
        if host_port != 0 {
            for msg in is_valid_port_num(host_port) {
                errs.push(FieldError::invalid(p.child("hostPort"), host_port, msg));
            }
        }
        if host_network && host_port != 0 && host_port != container_port {
            errs.push(FieldError::invalid(
                p.child("containerPort"),
                container_port,
                "must match `hostPort` when `hostNetwork` is true",
            ));
        }
        match str_at(port, &["protocol"]) {
            "" => errs.push(FieldError::required(p.child("protocol"), "")),
            proto if !PROTOCOLS.contains(&proto) => errs.push(FieldError::not_supported(
                p.child("protocol"),
                proto,
                PROTOCOLS,
            )),
            _ => {}
        }
    }
}

fn validate_resources(r: &Value, path: &Path, errs: &mut FieldErrors) {
    let (Some(requests), Some(limits)) = (object_at(r, &["requests"]), object_at(r, &["limits"]))
    else {
        return;
    };
    for (name, req) in requests {
        let (Some(rq), Some(lim_v)) = (quantity::parse(req), limits.get(name)) else {
            continue;
        };
        if quantity::parse(lim_v).is_some_and(|l| rq > l) {
            let lim = lim_v.as_str().unwrap_or_default();
            errs.push(FieldError::invalid(
                path.child("requests").key(name),
                req.as_str().unwrap_or_default(),
                format!("must be less than or equal to {name} limit of {lim}"),
            ));
        }
    }
}

fn validate_toleration(t: &Value, path: &Path, errs: &mut FieldErrors) {
    let key = str_at(t, &["key"]);
    let op = str_at(t, &["operator"]);
    if !key.is_empty() {
        for msg in is_qualified_name(key) {
            errs.push(FieldError::invalid(path.child("key"), key, msg));
        }
    }
    if key.is_empty() && op != "Exists" {
        errs.push(FieldError::invalid(
            path.child("operator"),
            op,
            "operator must be Exists when `key` is empty, which means \"match all values and all keys\"",
        ));
    }
    let effect = str_at(t, &["effect"]);
    if get(t, &["tolerationSeconds"]).is_some() && effect != "NoExecute" {
        errs.push(FieldError::invalid(
            path.child("effect"),
            effect,
            "effect must be 'NoExecute' when `tolerationSeconds` is set",
        ));
    }
    let value = str_at(t, &["value"]);
    match op {
        "" | "Equal" => {
            for msg in is_valid_label_value(value) {
                errs.push(FieldError::invalid(path.child("value"), value, msg));
            }
        }
        "Exists" if !value.is_empty() => errs.push(FieldError::invalid(
            path.child("operator"),
            t.clone(),
            "value must be empty when `operator` is 'Exists'",
        )),
        "Exists" => {}
        other => errs.push(FieldError::not_supported(
            path.child("operator"),
            other,
            TOLERATION_OPERATORS,
        )),
    }
    if !effect.is_empty() && !TAINT_EFFECTS.contains(&effect) {
        errs.push(FieldError::not_supported(
            path.child("effect"),
            effect,
            TAINT_EFFECTS,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::{messages, pretty};
    use expect_test::expect;

    #[test]
    fn pull_policy_follows_the_tag() {
        for (image, latest) in [
            ("nginx", true),
            ("nginx:latest", true),
            ("nginx:1.25", false),
            ("localhost:5000/nginx", true),
            ("localhost:5000/nginx:v1", false),
            ("nginx@sha256:abcd", false),
        ] {
            assert_eq!(image_tag_is_latest(image), latest, "{image}");
        }
    }

    #[test]
    fn qos_classes() {
        let cases = [
            (json!({"containers": [{"name": "a"}]}), "BestEffort"),
            (
                json!({"containers": [{"resources": {"requests": {"cpu": "100m"}}}]}),
                "Burstable",
            ),
            (
                json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1000m", "memory": "1Gi"}}}]}),
                "Guaranteed",
            ),
            (
                json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}]}),
                "Burstable",
            ),
        ];
        for (spec, want) in cases {
            assert_eq!(qos_class(&spec), want, "{spec}");
        }
    }

    #[test]
    fn spec_defaults() {
        let mut spec = json!({
            "serviceAccount": "builder",
            "containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                "env": [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
                "readinessProbe": {"httpGet": {"port": 80}}}],
            "volumes": [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "scratch"}]
        });
        default_pod_spec(&mut spec);
        expect![[r#"
            {
              "serviceAccount": "builder",
              "containers": [
                {
                  "name": "app",
                  "image": "nginx:1.25",
                  "ports": [
                    {
                      "containerPort": 80,
                      "protocol": "TCP"
                    }
                  ],
                  "env": [
                    {
                      "name": "NODE",
                      "valueFrom": {
                        "fieldRef": {
                          "fieldPath": "spec.nodeName",
                          "apiVersion": "v1"
                        }
                      }
                    }
                  ],
                  "readinessProbe": {
                    "httpGet": {
                      "port": 80,
                      "path": "/",
                      "scheme": "HTTP"
                    },
                    "timeoutSeconds": 1,
                    "periodSeconds": 10,
                    "successThreshold": 1,
                    "failureThreshold": 3
                  },
                  "imagePullPolicy": "IfNotPresent",
                  "terminationMessagePath": "/dev/termination-log",
                  "terminationMessagePolicy": "File",
                  "resources": {}
                }
              ],
              "volumes": [
                {
                  "name": "cfg",
                  "configMap": {
                    "name": "c",
                    "defaultMode": 420
                  }
                },
                {
                  "name": "scratch",
                  "emptyDir": {}
                }
              ],
              "dnsPolicy": "ClusterFirst",
              "restartPolicy": "Always",
              "securityContext": {},
              "terminationGracePeriodSeconds": 30,
              "schedulerName": "default-scheduler",
              "serviceAccountName": "builder"
            }"#]]
        .assert_eq(&pretty(&spec));
    }

    #[test]
    fn spec_errors() {
        let cases = [
            (
                json!({"restartPolicy": "Always"}),
                expect!["spec.containers: Required value"],
            ),
            (
                json!({"restartPolicy": "Sometimes", "dnsPolicy": "X", "containers": [
                    {"name": "app", "image": "a"}, {"name": "app", "image": ""}, {"name": "Bad_Name", "image": "b"}]}),
                expect![[r#"
                    spec.containers[1].name: Duplicate value: "app"
                    spec.containers[1].image: Required value
                    spec.containers[2].name: Invalid value: "Bad_Name": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')
                    spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"
                    spec.dnsPolicy: Unsupported value: "X": supported values: "ClusterFirstWithHostNet", "ClusterFirst", "Default", "None""#]],
            ),
            (
                json!({"restartPolicy": "Always", "volumes": [{"name": "v"}, {"name": "v"}], "containers": [{"name": "a", "image": "i",
                    "ports": [{"containerPort": 70000, "protocol": "TCP", "name": "web"}, {"containerPort": 1, "protocol": "ICMP", "name": "web"}],
                    "env": [{"name": ""}, {"name": "A=B"}],
                    "volumeMounts": [{"name": "w", "mountPath": "/x"}],
                    "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}}]}),
                expect![[r#"
                    spec.volumes[1].name: Duplicate value: "v"
                    spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive
                    spec.containers[0].ports[1].name: Duplicate value: "web"
                    spec.containers[0].ports[1].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"
                    spec.containers[0].env[0].name: Required value
                    spec.containers[0].env[1].name: Invalid value: "A=B": a valid environment variable name must consist only of printable ASCII characters other than '='
                    spec.containers[0].volumeMounts[0].name: Not found: "w"
                    spec.containers[0].resources.requests[cpu]: Invalid value: "2": must be less than or equal to cpu limit of 1"#]],
            ),
            (
                json!({"restartPolicy": "Always", "containers": [{"name": "a", "image": "i"}],
                    "tolerations": [{"operator": "Equal"}, {"key": "k", "operator": "Exists", "value": "v"}, {"key": "k", "tolerationSeconds": 5, "effect": "NoSchedule"}]}),
                expect![[r#"
                    spec.tolerations[0].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which means "match all values and all keys"
                    spec.tolerations[1].operator: Invalid value: {"key":"k","operator":"Exists","value":"v"}: value must be empty when `operator` is 'Exists'
                    spec.tolerations[2].effect: Invalid value: "NoSchedule": effect must be 'NoExecute' when `tolerationSeconds` is set"#]],
            ),
        ];
        for (spec, want) in cases {
            want.assert_eq(&messages(&validate_pod_spec(&spec, &Path::new("spec"))));
        }
    }

    #[test]
    fn probe_handlers() {
        let spec = json!({"restartPolicy": "Always", "containers": [{"name": "a", "image": "i",
            "livenessProbe": {"periodSeconds": 10},
            "readinessProbe": {"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}},
            "lifecycle": {"preStop": {"sleep": {"seconds": 1}}}}]});
        expect![[r#"
            spec.containers[0].livenessProbe: Required value: must specify a handler type
            spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type"#]]
        .assert_eq(&messages(&validate_pod_spec(&spec, &Path::new("spec"))));
    }
}
