//! NetworkPolicies.

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::{is_valid_cidr, is_valid_port_name, is_valid_port_num};
use serde_json::{json, Value};

use crate::strategies::common::validate_label_selector;
use crate::strategies::json::{array_at, each_mut, ensure_object, get, set_default, str_at};
use crate::Strategy;

pub struct NetworkPolicyStrategy;

const POLICY_TYPES: &[&str] = &["Ingress", "Egress"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];
const CIDR_MSG: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

impl Strategy for NetworkPolicyStrategy {
    fn default(&self, obj: &mut Value) {
        let Some(spec) = ensure_object(obj, "spec") else {
            return;
        };
        if array_at(spec, &["policyTypes"]).is_empty() {
            let mut types = vec![json!("Ingress")];
            if !array_at(spec, &["egress"]).is_empty() {
                types.push(json!("Egress"));
            }
            spec["policyTypes"] = Value::Array(types);
        }
        for dir in ["ingress", "egress"] {
            each_mut(spec, dir, |rule| {
                each_mut(rule, "ports", |p| set_default(p, "protocol", json!("TCP")))
            });
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = validate_label_selector(
            spec.get("podSelector").unwrap_or(&Value::Null),
            &path.child("podSelector"),
        );
        for (dir, peers) in [("ingress", "from"), ("egress", "to")] {
            for (i, rule) in array_at(spec, &[dir]).iter().enumerate() {
                let rp = path.child(dir).index(i);
                for (j, port) in array_at(rule, &["ports"]).iter().enumerate() {
                    validate_port(port, &rp.child("ports").index(j), &mut errs);
                }
                for (j, peer) in array_at(rule, &[peers]).iter().enumerate() {
                    validate_peer(peer, &rp.child(peers).index(j), &mut errs);
                }
            }
        }
        for (i, t) in array_at(spec, &["policyTypes"]).iter().enumerate() {
            let t = t.as_str().unwrap_or("");
            if !POLICY_TYPES.contains(&t) {
                errs.push(FieldError::not_supported(
                    path.child("policyTypes").index(i),
                    t,
                    POLICY_TYPES,
                ));
            }
        }
        errs
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

fn validate_port(port: &Value, p: &Path, errs: &mut FieldErrors) {
    let proto = str_at(port, &["protocol"]);
    if !proto.is_empty() && !PROTOCOLS.contains(&proto) {
        errs.push(FieldError::not_supported(
            p.child("protocol"),
            proto,
            PROTOCOLS,
        ));
    }
    match get(port, &["port"]) {
        Some(Value::Number(n)) => {
            let n = n.as_i64().unwrap_or(0);
            for msg in is_valid_port_num(n) {
                errs.push(FieldError::invalid(p.child("port"), n, msg));
            }
            if let Some(end) = get(port, &["endPort"]).and_then(Value::as_i64) {
                if end < n {
                    errs.push(FieldError::invalid(
                        p.child("endPort"),
                        end,
                        "must be greater than or equal to `port`",
                    ));
                }
            }
        }
        Some(Value::String(s)) => {
            for msg in is_valid_port_name(s) {
                errs.push(FieldError::invalid(p.child("port"), s.as_str(), msg));
            }
            if get(port, &["endPort"]).is_some() {
                errs.push(FieldError::invalid(
                    p.child("endPort"),
                    get(port, &["endPort"]).cloned().unwrap_or(Value::Null),
                    "may not be specified when `port` is non-numeric",
                ));
            }
        }
        _ => {}
    }
}

fn validate_peer(peer: &Value, p: &Path, errs: &mut FieldErrors) {
    let mut count = 0;
    for key in ["podSelector", "namespaceSelector"] {
        if let Some(sel) = get(peer, &[key]) {
            count += 1;
            errs.extend(validate_label_selector(sel, &p.child(key)));
        }
    }
    if let Some(block) = get(peer, &["ipBlock"]) {
        count += 1;
        let bp = p.child("ipBlock");
        let cidr = str_at(block, &["cidr"]);
        if cidr.is_empty() {
            errs.push(FieldError::required(bp.child("cidr"), ""));
        } else if !is_valid_cidr(cidr) {
            errs.push(FieldError::invalid(bp.child("cidr"), cidr, CIDR_MSG));
        }
        for (i, except) in array_at(block, &["except"]).iter().enumerate() {
            let e = except.as_str().unwrap_or("");
            if !is_valid_cidr(e) {
                errs.push(FieldError::invalid(
                    bp.child("except").index(i),
                    e,
                    CIDR_MSG,
                ));
            }
        }
    }
    if count == 0 {
        errs.push(FieldError::required(p.clone(), "must specify a peer"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;

    #[test]
    fn defaults_and_rules() {
        let mut np = json!({"spec": {"podSelector": {}, "egress": [{"ports": [{"port": 53}], "to": [{"ipBlock": {"cidr": "10.0.0.0/40"}}, {}]}]}});
        NetworkPolicyStrategy.default(&mut np);
        assert_eq!(np["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
        assert_eq!(
            np["spec"]["egress"][0]["ports"][0]["protocol"],
            json!("TCP")
        );
        expect![[r#"
            spec.egress[0].to[0].ipBlock.cidr: Invalid value: "10.0.0.0/40": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)
            spec.egress[0].to[1]: Required value: must specify a peer"#]]
        .assert_eq(&messages(&NetworkPolicyStrategy.validate(&np)));
    }
}
