//! Upstream's `Priority` admission plugin: a pod's `spec.priority` and
//! `spec.preemptionPolicy` come from its PriorityClass (or the global default), never from
//! the client; and only one PriorityClass may be the global default.
//!
//! Pure: the caller passes the PriorityClasses it can see.

use serde_json::{json, Value};

/// What a pod gets when it names no class and no class is the global default.
const DEFAULT_PRIORITY: i64 = 0;
const DEFAULT_PREEMPTION_POLICY: &str = "PreemptLowerPriority";

fn name(pc: &Value) -> &str {
    pc.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn value(pc: &Value) -> i64 {
    pc.get("value").and_then(Value::as_i64).unwrap_or(0)
}

fn is_global_default(pc: &Value) -> bool {
    pc.get("globalDefault")
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

/// The global default class; when a race left several, the lowest value wins (as upstream).
fn global_default(classes: &[Value]) -> Option<&Value> {
    classes
        .iter()
        .filter(|pc| is_global_default(pc))
        .min_by_key(|pc| value(pc))
}

/// Resolves the priority fields of a pod being created. `Err` holds the reason upstream
/// returns as `pods "<name>" is forbidden: <reason>`.
pub fn admit_pod_create(pod: &mut Value, classes: &[Value]) -> Result<(), String> {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(());
    };
    let named = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let (class_name, priority, policy) = if named.is_empty() {
        match global_default(classes) {
            Some(pc) => (
                name(pc).to_string(),
                value(pc),
                pc.get("preemptionPolicy").and_then(Value::as_str),
            ),
            None => (
                String::new(),
                DEFAULT_PRIORITY,
                Some(DEFAULT_PREEMPTION_POLICY),
            ),
        }
    } else {
        let pc = classes
            .iter()
            .find(|pc| name(pc) == named)
            .ok_or_else(|| format!("no PriorityClass with name {named} was found"))?;
        (
            named.clone(),
            value(pc),
            pc.get("preemptionPolicy").and_then(Value::as_str),
        )
    };
    if let Some(given) = spec.get("priority").and_then(Value::as_i64) {
        if given != priority {
            return Err(format!("the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name"));
        }
    }
    if let Some(policy) = policy {
        if let Some(given) = spec.get("preemptionPolicy").and_then(Value::as_str) {
            if given != policy {
                return Err(format!("the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name"));
            }
        }
        spec.insert("preemptionPolicy".into(), json!(policy));
    }
    if !class_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    spec.insert("priority".into(), json!(priority));
    Ok(())
}

/// An update that omits the resolved fields keeps them (validation then forbids changing
/// them), so a client replacing a pod from its own manifest is not refused.
pub fn admit_pod_update(pod: &mut Value, old: &Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    for field in ["priority", "preemptionPolicy"] {
        let missing = spec.get(field).is_none_or(Value::is_null);
        if let Some(v) = old
            .pointer(&format!("/spec/{field}"))
            .filter(|v| !v.is_null())
        {
            if missing {
                spec.insert(field.into(), v.clone());
            }
        }
    }
}

/// A PriorityClass may become the global default only while no other class is one.
pub fn admit_priority_class(pc: &Value, classes: &[Value], update: bool) -> Result<(), String> {
    if !is_global_default(pc) {
        return Ok(());
    }
    match global_default(classes) {
        Some(existing) if !update || name(existing) != name(pc) => Err(format!(
            "PriorityClass {} is already marked as default. Only one default can exist",
            name(existing)
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(name: &str, value: i64, default: bool, policy: &str) -> Value {
        json!({"metadata": {"name": name}, "value": value, "globalDefault": default, "preemptionPolicy": policy})
    }

    fn pod(spec: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": spec})
    }

    /// (what, classes, pod spec, resolved spec or reason).
    type Case = (&'static str, Vec<Value>, Value, Result<Value, &'static str>);

    #[test]
    fn pod_create() {
        let high = class("high", 1000, false, "PreemptLowerPriority");
        let polite = class("polite", 500, false, "Never");
        let dflt = class("dflt", 10, true, "PreemptLowerPriority");
        let cases: Vec<Case> = vec![
            (
                "no class, no default",
                vec![high.clone()],
                json!({}),
                Ok(json!({"priority": 0, "preemptionPolicy": "PreemptLowerPriority"})),
            ),
            (
                "no class, a global default",
                vec![high.clone(), dflt.clone()],
                json!({}),
                Ok(
                    json!({"priority": 10, "priorityClassName": "dflt", "preemptionPolicy": "PreemptLowerPriority"}),
                ),
            ),
            (
                "named class",
                vec![high.clone(), dflt.clone()],
                json!({"priorityClassName": "high"}),
                Ok(
                    json!({"priority": 1000, "priorityClassName": "high", "preemptionPolicy": "PreemptLowerPriority"}),
                ),
            ),
            (
                "class with Never",
                vec![polite.clone()],
                json!({"priorityClassName": "polite"}),
                Ok(
                    json!({"priority": 500, "priorityClassName": "polite", "preemptionPolicy": "Never"}),
                ),
            ),
            (
                "priority given and equal",
                vec![high.clone()],
                json!({"priorityClassName": "high", "priority": 1000}),
                Ok(
                    json!({"priority": 1000, "priorityClassName": "high", "preemptionPolicy": "PreemptLowerPriority"}),
                ),
            ),
            (
                "unknown class",
                vec![high.clone()],
                json!({"priorityClassName": "foo"}),
                Err("no PriorityClass with name foo was found"),
            ),
            (
                "priority given and different",
                vec![high.clone()],
                json!({"priorityClassName": "high", "priority": 7}),
                Err("the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"),
            ),
            (
                "priority given without class",
                vec![],
                json!({"priority": 7}),
                Err("the integer value of priority (7) must not be provided in pod spec; priority admission controller computed 0 from the given PriorityClass name"),
            ),
            (
                "policy given and different",
                vec![polite.clone()],
                json!({"priorityClassName": "polite", "preemptionPolicy": "PreemptLowerPriority"}),
                Err("the string value of PreemptionPolicy (PreemptLowerPriority) must not be provided in pod spec; priority admission controller computed Never from the given PriorityClass name"),
            ),
        ];
        for (what, classes, spec, want) in cases {
            let mut p = pod(spec);
            let got = admit_pod_create(&mut p, &classes).map(|()| p["spec"].clone());
            assert_eq!(got, want.map_err(str::to_string), "{what}");
        }
    }

    #[test]
    fn lowest_default_wins() {
        let classes = [
            class("a", 30, true, "Never"),
            class("b", 20, true, "PreemptLowerPriority"),
        ];
        let mut p = pod(json!({}));
        assert_eq!(admit_pod_create(&mut p, &classes), Ok(()));
        assert_eq!(p["spec"]["priorityClassName"], "b");
        assert_eq!(p["spec"]["priority"], 20);
    }

    #[test]
    fn pod_update_keeps_resolved_fields() {
        let old = pod(json!({"priority": 5, "preemptionPolicy": "Never"}));
        let cases = [
            (
                json!({}),
                json!({"priority": 5, "preemptionPolicy": "Never"}),
            ),
            (
                json!({"priority": 9}),
                json!({"priority": 9, "preemptionPolicy": "Never"}),
            ),
        ];
        for (spec, want) in cases {
            let mut p = pod(spec);
            admit_pod_update(&mut p, &old);
            assert_eq!(p["spec"], want);
        }
    }

    #[test]
    fn one_global_default() {
        let existing = vec![
            class("dflt", 1, true, "Never"),
            class("x", 2, false, "Never"),
        ];
        let msg = "PriorityClass dflt is already marked as default. Only one default can exist";
        let cases = [
            (class("new", 5, true, "Never"), false, Err(msg)),
            (class("new", 5, false, "Never"), false, Ok(())),
            (class("dflt", 1, true, "Never"), true, Ok(())),
            (class("x", 2, true, "Never"), true, Err(msg)),
            (class("new", 5, true, "Never"), false, Err(msg)),
        ];
        for (pc, update, want) in cases {
            assert_eq!(
                admit_priority_class(&pc, &existing, update),
                want.map_err(str::to_string),
                "{pc}"
            );
        }
        assert_eq!(
            admit_priority_class(&class("new", 5, true, "Never"), &[], false),
            Ok(())
        );
    }
}
