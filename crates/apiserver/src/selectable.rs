//! What field selectors read of an object, parsed without the rest. Every field label a
//! kind supports (upstream's and ours: `spec.nodeName`, `status.phase`, `type`,
//! `involvedObject.kind`, `source` as `source.component`) is a scalar at the top of the
//! object or one level down, so a pod event checked against a kubelet's
//! `spec.nodeName=...` watch no longer parses its managedFields, containers and volumes.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// The object's scalars at depths one and two (`{"type": .., "spec": {"nodeName": ..}}`);
/// arrays and deeper objects are left out. `Null` when `json` is not an object.
pub fn parse(json: &[u8]) -> Value {
    let mut de = serde_json::Deserializer::from_slice(json);
    Depth(0).deserialize(&mut de).unwrap_or(Value::Null)
}

/// How deep the value being read sits: the object itself is 0; objects below 1 are
/// skipped.
struct Depth(u8);

impl<'de> DeserializeSeed<'de> for Depth {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Depth {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        while a.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Value::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Value, A::Error> {
        let mut m = Map::new();
        if self.0 > 1 {
            while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Value::Null);
        }
        while let Some(k) = a.next_key::<String>()? {
            let v = a.next_value_seed(Depth(self.0 + 1))?;
            m.insert(k, v);
        }
        Ok(Value::Object(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Each kind with field labels, an object with every one of them set, and the labels:
    /// each reads the same off the pruned parse as off the whole object.
    #[test]
    fn field_labels_read_the_same_as_from_the_whole_object() {
        let cases: &[(&str, &str, Value, &[&str])] = &[
            (
                "",
                "pods",
                json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "b"},
                        "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
                    "spec": {"nodeName": "n1", "restartPolicy": "Never", "schedulerName": "s",
                        "serviceAccountName": "sa", "hostNetwork": true,
                        "containers": [{"name": "c", "image": "i"}]},
                    "status": {"phase": "Running", "podIP": "10.0.0.1",
                        "nominatedNodeName": "n2", "conditions": [{"type": "Ready"}]}}),
                &[
                    "spec.nodeName",
                    "spec.restartPolicy",
                    "spec.schedulerName",
                    "spec.serviceAccountName",
                    "spec.hostNetwork",
                    "status.phase",
                    "status.podIP",
                    "status.nominatedNodeName",
                ],
            ),
            (
                "",
                "events",
                json!({"apiVersion": "v1", "kind": "Event",
                    "metadata": {"name": "e", "namespace": "ns"},
                    "involvedObject": {"kind": "Pod", "namespace": "ns", "name": "p",
                        "uid": "u", "apiVersion": "v1", "resourceVersion": "7",
                        "fieldPath": "spec.containers{c}"},
                    "reason": "Started", "reportingComponent": "kubelet",
                    "source": {"component": "kubelet", "host": "n1"}, "type": "Normal"}),
                &[
                    "involvedObject.kind",
                    "involvedObject.namespace",
                    "involvedObject.name",
                    "involvedObject.uid",
                    "involvedObject.apiVersion",
                    "involvedObject.resourceVersion",
                    "involvedObject.fieldPath",
                    "reason",
                    "reportingComponent",
                    "source",
                    "type",
                ],
            ),
            (
                "",
                "nodes",
                json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true, "taints": []}}),
                &["spec.unschedulable"],
            ),
            (
                "",
                "secrets",
                json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"k": "dg=="}}),
                &["type"],
            ),
            (
                "",
                "namespaces",
                json!({"metadata": {"name": "n"}, "status": {"phase": "Terminating"}}),
                &["status.phase"],
            ),
            (
                "certificates.k8s.io",
                "certificatesigningrequests",
                json!({"metadata": {"name": "c"}, "spec": {"signerName": "x/y", "usages": []}}),
                &["spec.signerName"],
            ),
        ];
        for (group, plural, obj, fields) in cases {
            let strategy = registry::strategies::for_resource(group, plural);
            let pruned = parse(&serde_json::to_vec(obj).expect("json"));
            for field in *fields {
                let whole = strategy.field_label(obj, field);
                assert!(whole.is_some(), "{plural} {field}");
                assert_eq!(
                    strategy.field_label(&pruned, field),
                    whole,
                    "{plural} {field}"
                );
            }
            for meta in ["/metadata/name", "/metadata/namespace"] {
                assert_eq!(pruned.pointer(meta), obj.pointer(meta), "{plural} {meta}");
            }
        }
    }

    #[test]
    fn deeper_values_are_left_out() {
        let v = parse(
            br#"{"a": 1, "b": {"c": "d", "e": {"f": 1}, "g": [1, 2]}, "h": [{"i": 1}], "j": null}"#,
        );
        assert_eq!(
            v,
            json!({"a": 1, "b": {"c": "d", "e": null, "g": null}, "h": null, "j": null})
        );
        assert_eq!(parse(b"[1]"), Value::Null);
        assert_eq!(parse(b"not json"), Value::Null);
    }
}
