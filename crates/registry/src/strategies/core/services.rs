//! Services. Cluster IPs and node ports are allocated by the apiserver, not here; on update
//! we carry allocated values over when the client left them out, as upstream does.

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::{
    is_dns1123_label, is_dns1123_subdomain, is_valid_ip, is_valid_port_name, is_valid_port_num,
    validate_labels,
};
use serde_json::{json, Value};
use std::collections::HashSet;

use crate::strategies::json::{
    array_at, each_mut, ensure_object, get, i64_at, object_at, set_default, str_at,
};
use crate::Strategy;

pub struct ServiceStrategy;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];
const TRAFFIC_POLICIES: &[&str] = &["Cluster", "Local"];
const MAX_CLIENT_IP_AFFINITY_SECONDS: i64 = 86400;

fn uses_node_ports(ty: &str) -> bool {
    ty == "NodePort" || ty == "LoadBalancer"
}

impl Strategy for ServiceStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(spec) = ensure_object(obj, "spec") else {
            return;
        };
        set_default(spec, "type", json!("ClusterIP"));
        set_default(spec, "sessionAffinity", json!("None"));
        if str_at(spec, &["sessionAffinity"]) == "ClientIP" {
            set_default(
                spec,
                "sessionAffinityConfig",
                json!({"clientIP": {"timeoutSeconds": 10800}}),
            );
        }
        each_mut(spec, "ports", |p| {
            set_default(p, "protocol", json!("TCP"));
            let unset = match get(p, &["targetPort"]) {
                None => true,
                Some(v) => v.as_i64() == Some(0) || v.as_str() == Some(""),
            };
            if unset {
                if let Some(port) = get(p, &["port"]).cloned() {
                    p["targetPort"] = port;
                }
            }
        });
        let ty = str_at(spec, &["type"]).to_string();
        if ty == "ExternalName" {
            return;
        }
        if uses_node_ports(&ty) {
            set_default(spec, "externalTrafficPolicy", json!("Cluster"));
        }
        if ty == "LoadBalancer" {
            set_default(spec, "allocateLoadBalancerNodePorts", json!(true));
        }
        set_default(spec, "internalTrafficPolicy", json!("Cluster"));
        let cluster_ip = str_at(spec, &["clusterIP"]).to_string();
        let first_ip = array_at(spec, &["clusterIPs"])
            .first()
            .and_then(Value::as_str)
            .map(str::to_string);
        match (cluster_ip.is_empty(), first_ip) {
            (false, None) => spec["clusterIPs"] = json!([cluster_ip]),
            (true, Some(ip)) => spec["clusterIP"] = json!(ip),
            _ => {}
        }
        let headless_without_selector = str_at(spec, &["clusterIP"]) == "None"
            && object_at(spec, &["selector"]).is_none_or(|s| s.is_empty());
        if headless_without_selector {
            set_default(spec, "ipFamilyPolicy", json!("RequireDualStack"));
            set_default(spec, "ipFamilies", json!(["IPv4", "IPv6"]));
        } else {
            set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
            set_default(spec, "ipFamilies", json!(["IPv4"]));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        let old_type = str_at(old, &["spec", "type"]).to_string();
        let Some(spec) = new.get_mut("spec").filter(|s| s.is_object()) else {
            return;
        };
        let new_type = str_at(spec, &["type"]).to_string();
        if old_type != "ExternalName" && new_type != "ExternalName" {
            for key in ["clusterIP", "clusterIPs"] {
                if let Some(v) = get(old, &["spec", key]) {
                    set_default(spec, key, v.clone());
                }
            }
        }
        if uses_node_ports(&old_type) && uses_node_ports(&new_type) {
            let old_ports = array_at(old, &["spec", "ports"]);
            let used: HashSet<i64> = array_at(spec, &["ports"])
                .iter()
                .filter_map(|p| i64_at(p, &["nodePort"]))
                .collect();
            each_mut(spec, "ports", |p| {
                if i64_at(p, &["nodePort"]).unwrap_or(0) != 0 {
                    return;
                }
                let name = str_at(p, &["name"]);
                let old_np = old_ports
                    .iter()
                    .find(|o| str_at(o, &["name"]) == name)
                    .and_then(|o| i64_at(o, &["nodePort"]));
                if let Some(np) = old_np.filter(|np| !used.contains(np)) {
                    p["nodePort"] = json!(np);
                }
            });
            if let Some(hc) = get(old, &["spec", "healthCheckNodePort"]) {
                if str_at(spec, &["externalTrafficPolicy"]) == "Local" {
                    set_default(spec, "healthCheckNodePort", hc.clone());
                }
            }
        }
        // A service turned ExternalName gives up its cluster IP and IP families, as upstream
        // does, unless the client changed them (validation then says why they can't stay).
        if old_type != "ExternalName" && new_type == "ExternalName" {
            for key in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
                let unchanged = get(spec, &[key]).is_none_or(|v| {
                    v.is_null()
                        || v.as_str() == Some("")
                        || v.as_array().is_some_and(|a| a.is_empty())
                        || Some(v) == get(old, &["spec", key])
                });
                if let (true, Some(m)) = (unchanged, spec.as_object_mut()) {
                    m.remove(key);
                }
            }
        }
        // Fields that only make sense for the old type go when the type changes.
        if uses_node_ports(&old_type) && !uses_node_ports(&new_type) {
            if let Some(m) = spec.as_object_mut() {
                m.remove("externalTrafficPolicy");
                m.remove("healthCheckNodePort");
            }
            let old_ports = array_at(old, &["spec", "ports"]);
            each_mut(spec, "ports", |p| {
                let np = get(p, &["nodePort"]).cloned();
                if np.is_some()
                    && old_ports
                        .iter()
                        .any(|o| get(o, &["nodePort"]) == np.as_ref())
                {
                    if let Some(m) = p.as_object_mut() {
                        m.remove("nodePort");
                    }
                }
            });
        }
        if old_type == "LoadBalancer" && new_type != "LoadBalancer" {
            if let Some(m) = spec.as_object_mut() {
                m.remove("allocateLoadBalancerNodePorts");
                m.remove("loadBalancerClass");
            }
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        validate_spec(obj.get("spec").unwrap_or(&Value::Null), &Path::new("spec"))
    }

    fn validate_update(&self, new: &Value, old: &Value) -> FieldErrors {
        let mut errs = self.validate(new);
        let path = Path::new("spec");
        let (new_type, old_type) = (
            str_at(new, &["spec", "type"]),
            str_at(old, &["spec", "type"]),
        );
        if new_type == "ExternalName" || old_type == "ExternalName" {
            return errs;
        }
        // Upstream reports a changed cluster IP against `clusterIPs`, which mirrors
        // `clusterIP`; a client that changed only `clusterIP` hears about that field.
        let new_ips = array_at(new, &["spec", "clusterIPs"]);
        let mut changed = false;
        for (i, ip) in array_at(old, &["spec", "clusterIPs"]).iter().enumerate() {
            if new_ips.get(i).is_some_and(|n| n != ip) {
                changed = true;
                errs.push(FieldError::invalid(
                    path.child("clusterIPs").index(i),
                    Value::Array(new_ips.to_vec()),
                    "may not change once set",
                ));
            }
        }
        let (new_ip, old_ip) = (
            str_at(new, &["spec", "clusterIP"]),
            str_at(old, &["spec", "clusterIP"]),
        );
        if !changed && !old_ip.is_empty() && new_ip != old_ip {
            errs.push(FieldError::immutable(path.child("clusterIP"), new_ip));
        }
        errs
    }

    fn has_status(&self) -> bool {
        true
    }
}

fn validate_spec(spec: &Value, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    let ty = str_at(spec, &["type"]);
    if !ty.is_empty() && !TYPES.contains(&ty) {
        errs.push(FieldError::not_supported(path.child("type"), ty, TYPES));
    }
    let cluster_ip = str_at(spec, &["clusterIP"]);
    let headless = cluster_ip == "None";
    let ports = array_at(spec, &["ports"]);
    if ports.is_empty() && !headless && ty != "ExternalName" {
        errs.push(FieldError::required(path.child("ports"), ""));
    }
    let mut names = HashSet::new();
    let mut keys = HashSet::new();
    for (i, port) in ports.iter().enumerate() {
        let p = path.child("ports").index(i);
        validate_port(port, &p, ports.len() > 1, ty, &mut names, &mut errs);
        let key = (
            str_at(port, &["protocol"]).to_string(),
            i64_at(port, &["port"]).unwrap_or(0),
        );
        if !keys.insert(key.clone()) {
            errs.push(FieldError::duplicate(
                &p,
                json!({"port": key.1, "protocol": key.0}),
            ));
        }
    }
    errs.extend(validate_labels(
        get(spec, &["selector"]),
        path.child("selector").as_str(),
    ));
    let affinity = str_at(spec, &["sessionAffinity"]);
    if !affinity.is_empty() && !AFFINITIES.contains(&affinity) {
        errs.push(FieldError::not_supported(
            path.child("sessionAffinity"),
            affinity,
            AFFINITIES,
        ));
    }
    if let Some(t) = i64_at(
        spec,
        &["sessionAffinityConfig", "clientIP", "timeoutSeconds"],
    ) {
        if t <= 0 || t > MAX_CLIENT_IP_AFFINITY_SECONDS {
            errs.push(FieldError::invalid(
                path.child("sessionAffinityConfig")
                    .child("clientIP")
                    .child("timeoutSeconds"),
                t,
                format!("must be greater than 0 and less than {MAX_CLIENT_IP_AFFINITY_SECONDS}"),
            ));
        }
    }
    if ty == "ExternalName" {
        let name = str_at(spec, &["externalName"]);
        if name.is_empty() {
            errs.push(FieldError::required(path.child("externalName"), ""));
        } else {
            for msg in is_dns1123_subdomain(name.trim_end_matches('.')) {
                errs.push(FieldError::invalid(path.child("externalName"), name, msg));
            }
        }
        if !array_at(spec, &["clusterIPs"]).is_empty() {
            errs.push(FieldError::forbidden(
                path.child("clusterIPs"),
                "may not be set for ExternalName services",
            ));
        }
    } else {
        for (i, ip) in array_at(spec, &["clusterIPs"]).iter().enumerate() {
            let ip = ip.as_str().unwrap_or("");
            if !(is_valid_ip(ip) || i == 0 && ip == "None") {
                errs.push(FieldError::invalid(
                    path.child("clusterIPs").index(i),
                    ip,
                    "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
                ));
            }
        }
    }
    for key in ["externalTrafficPolicy", "internalTrafficPolicy"] {
        let v = str_at(spec, &[key]);
        if !v.is_empty() && !TRAFFIC_POLICIES.contains(&v) {
            errs.push(FieldError::not_supported(
                path.child(key),
                v,
                TRAFFIC_POLICIES,
            ));
        }
    }
    if !uses_node_ports(ty) && get(spec, &["externalTrafficPolicy"]).is_some() {
        errs.push(FieldError::invalid(
            path.child("externalTrafficPolicy"),
            str_at(spec, &["externalTrafficPolicy"]),
            "may only be set when `type` is 'NodePort' or 'LoadBalancer'",
        ));
    }
    errs
}

fn validate_port(
    port: &Value,
    p: &Path,
    require_name: bool,
    ty: &str,
    names: &mut HashSet<String>,
    errs: &mut FieldErrors,
) {
    let name = str_at(port, &["name"]);
    if require_name && name.is_empty() {
        errs.push(FieldError::required(p.child("name"), ""));
    } else if !name.is_empty() {
        for msg in is_dns1123_label(name) {
            errs.push(FieldError::invalid(p.child("name"), name, msg));
        }
        if !names.insert(name.to_string()) {
            errs.push(FieldError::duplicate(p.child("name"), name));
        }
    }
    let number = i64_at(port, &["port"]).unwrap_or(0);
    for msg in is_valid_port_num(number) {
        errs.push(FieldError::invalid(p.child("port"), number, msg));
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
    match get(port, &["targetPort"]) {
        Some(Value::String(s)) => {
            for msg in is_valid_port_name(s) {
                errs.push(FieldError::invalid(p.child("targetPort"), s.as_str(), msg));
            }
        }
        Some(Value::Number(n)) => {
            for msg in is_valid_port_num(n.as_i64().unwrap_or(0)) {
                errs.push(FieldError::invalid(p.child("targetPort"), n.clone(), msg));
            }
        }
        _ => {}
    }
    let node_port = i64_at(port, &["nodePort"]).unwrap_or(0);
    if node_port != 0 {
        if ty == "ClusterIP" {
            errs.push(FieldError::forbidden(
                p.child("nodePort"),
                "may not be used when `type` is 'ClusterIP'",
            ));
        } else {
            for msg in is_valid_port_num(node_port) {
                errs.push(FieldError::invalid(p.child("nodePort"), node_port, msg));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::{messages, pretty};
    use expect_test::expect;

    fn svc(spec: Value) -> Value {
        let mut s = json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec});
        ServiceStrategy.default(&mut s);
        s
    }

    #[test]
    fn defaults() {
        expect![[r#"
            {
              "ports": [
                {
                  "port": 80,
                  "protocol": "TCP",
                  "targetPort": 80
                },
                {
                  "port": 443,
                  "targetPort": "https",
                  "protocol": "TCP"
                }
              ],
              "selector": {
                "app": "web"
              },
              "type": "NodePort",
              "sessionAffinity": "None",
              "externalTrafficPolicy": "Cluster",
              "internalTrafficPolicy": "Cluster",
              "ipFamilyPolicy": "SingleStack",
              "ipFamilies": [
                "IPv4"
              ]
            }"#]]
        .assert_eq(&pretty(&svc(json!({"ports": [{"port": 80}, {"port": 443, "targetPort": "https"}], "selector": {"app": "web"}, "type": "NodePort"}))["spec"]));
        let headless = svc(json!({"clusterIP": "None"}));
        assert_eq!(headless["spec"]["clusterIPs"], json!(["None"]));
        assert_eq!(
            headless["spec"]["ipFamilyPolicy"],
            json!("RequireDualStack")
        );
        assert_eq!(messages(&ServiceStrategy.validate(&headless)), "");
    }

    #[test]
    fn errors() {
        let cases = [
            (json!({}), expect!["spec.ports: Required value"]),
            (
                json!({"ports": [{"port": 80, "name": "http"}, {"port": 0, "name": "http", "nodePort": 30000}, {"port": 80}]}),
                expect![[r#"
                    spec.ports[1].name: Duplicate value: "http"
                    spec.ports[1].port: Invalid value: 0: must be between 1 and 65535, inclusive
                    spec.ports[1].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive
                    spec.ports[1].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'
                    spec.ports[2].name: Required value
                    spec.ports[2]: Duplicate value: {"port":80,"protocol":"TCP"}"#]],
            ),
            (
                json!({"type": "ExternalName"}),
                expect!["spec.externalName: Required value"],
            ),
            (
                json!({"type": "Magic", "ports": [{"port": 1}], "clusterIP": "1.2.3"}),
                expect![[r#"
                    spec.type: Unsupported value: "Magic": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"
                    spec.clusterIPs[0]: Invalid value: "1.2.3": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"#]],
            ),
        ];
        for (spec, want) in cases {
            want.assert_eq(&messages(&ServiceStrategy.validate(&svc(spec))));
        }
    }

    #[test]
    fn updates_keep_allocations() {
        let mut old = svc(json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}));
        old["spec"]["clusterIP"] = json!("10.43.0.10");
        old["spec"]["clusterIPs"] = json!(["10.43.0.10"]);
        old["spec"]["ports"][0]["nodePort"] = json!(30080);
        let mut new = svc(json!({"type": "NodePort", "ports": [{"name": "http", "port": 80}]}));
        ServiceStrategy.prepare_for_update(&mut new, &old);
        assert_eq!(new["spec"]["clusterIP"], json!("10.43.0.10"));
        assert_eq!(new["spec"]["ports"][0]["nodePort"], json!(30080));
        assert_eq!(messages(&ServiceStrategy.validate_update(&new, &old)), "");
        new["spec"]["clusterIP"] = json!("10.43.0.11");
        new["spec"]["clusterIPs"] = json!(["10.43.0.11"]);
        expect![[r#"
            spec.clusterIPs[0]: Invalid value: ["10.43.0.11"]: may not change once set"#]]
        .assert_eq(&messages(&ServiceStrategy.validate_update(&new, &old)));
        new["spec"]["clusterIPs"] = json!(["10.43.0.10"]);
        expect![[r#"spec.clusterIP: Invalid value: "10.43.0.11": field is immutable"#]]
            .assert_eq(&messages(&ServiceStrategy.validate_update(&new, &old)));
        let mut to_cluster_ip = old.clone();
        to_cluster_ip["spec"]["type"] = json!("ClusterIP");
        ServiceStrategy.prepare_for_update(&mut to_cluster_ip, &old);
        assert_eq!(
            messages(&ServiceStrategy.validate_update(&to_cluster_ip, &old)),
            ""
        );
    }

    #[test]
    fn turning_external_name_gives_up_the_cluster_ip() {
        let old =
            svc(json!({"type": "ClusterIP", "clusterIP": "10.43.0.7", "ports": [{"port": 80}]}));
        // `kubectl patch -p '{"spec":{"type":"ExternalName","externalName":"example.com"}}'`:
        // everything else as it was.
        let mut patched = old.clone();
        patched["spec"]["type"] = json!("ExternalName");
        patched["spec"]["externalName"] = json!("example.com");
        // A client that set a cluster IP of its own keeps it, and hears why it can't.
        let mut own_ip = patched.clone();
        own_ip["spec"]["clusterIP"] = json!("10.43.0.8");
        own_ip["spec"]["clusterIPs"] = json!(["10.43.0.8"]);
        let mut got = String::new();
        for (case, mut new) in [("unchanged", patched), ("own IP", own_ip)] {
            ServiceStrategy.prepare_for_update(&mut new, &old);
            let spec = &new["spec"];
            got += &format!(
                "{case}: clusterIP={} clusterIPs={} ipFamilies={} ipFamilyPolicy={} errors=[{}]\n",
                spec["clusterIP"],
                spec["clusterIPs"],
                spec["ipFamilies"],
                spec["ipFamilyPolicy"],
                messages(&ServiceStrategy.validate_update(&new, &old))
            );
        }
        expect![[r#"
            unchanged: clusterIP=null clusterIPs=null ipFamilies=null ipFamilyPolicy=null errors=[]
            own IP: clusterIP="10.43.0.8" clusterIPs=["10.43.0.8"] ipFamilies=null ipFamilyPolicy=null errors=[spec.clusterIPs: Forbidden: may not be set for ExternalName services]
        "#]]
        .assert_eq(&got);
    }
}
