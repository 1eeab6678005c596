//! Built-in admission that upstream enables by default and that changes objects on create.
//! (Webhooks and policies arrive with API extension.)

use serde_json::{json, Value};

use crate::rest::Scope;

/// Mutating admission on create, after defaulting and before validation's result is final.
pub fn on_create(scope: &Scope<'_>, obj: &mut Value) {
    if scope.info.group.is_empty() && scope.info.plural == "pods" {
        service_account(obj);
    }
}

/// Upstream's ServiceAccount plugin: a pod runs as `default` unless it names an account.
/// (Token projection arrives with access control.)
fn service_account(pod: &mut Value) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let named = spec
        .get("serviceAccountName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .or_else(|| {
            spec.get("serviceAccount")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
        })
        .unwrap_or("default")
        .to_string();
    spec.insert("serviceAccountName".into(), json!(named));
    spec.insert("serviceAccount".into(), json!(named));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_defaults() {
        let cases = [
            (json!({"spec": {}}), "default"),
            (
                json!({"spec": {"serviceAccountName": "builder"}}),
                "builder",
            ),
            (json!({"spec": {"serviceAccount": "legacy"}}), "legacy"),
            (json!({"spec": {"serviceAccountName": ""}}), "default"),
        ];
        for (mut pod, want) in cases {
            service_account(&mut pod);
            assert_eq!(pod["spec"]["serviceAccountName"], want);
            assert_eq!(pod["spec"]["serviceAccount"], want);
        }
    }
}
