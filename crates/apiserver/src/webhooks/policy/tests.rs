use serde_json::{json, Value};

use super::*;

fn bound(policy: Value, actions: &[&str], param_ref: Option<Value>) -> Bound {
    Bound {
        policy_name: "max-replicas".into(),
        policy: serde_json::from_value(policy).expect("policy"),
        binding_name: "max-replicas-binding".into(),
        binding: BindingSpec {
            policy_name: "max-replicas".into(),
            param_ref: param_ref.map(|p| serde_json::from_value(p).expect("paramRef")),
            match_resources: None,
            validation_actions: actions.iter().map(|a| a.to_string()).collect(),
        },
    }
}

fn run(b: &Bound, object: Value, params: Params) -> String {
    let null = Value::Null;
    let request = json!({"operation": "CREATE", "userInfo": {"username": "admin"}});
    let ns = json!({"metadata": {"name": "default", "labels": {"env": "prod"}}});
    let inputs = Inputs {
        object: &object,
        old_object: &null,
        request: &request,
        namespace_object: &ns,
    };
    let failures = evaluate(b, &inputs, params);
    if failures.is_empty() {
        return "allowed".into();
    }
    failures
        .iter()
        .map(|f| format!("{:?} {} ({})", f.actions, f.message, f.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn validations() {
    let deploy = |n: i64| json!({"metadata": {"name": "web"}, "spec": {"replicas": n}});
    let policy = |validations: Value| json!({"validations": validations});
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "passes",
            policy(json!([{"expression": "object.spec.replicas <= 5"}])),
            deploy(3),
        ),
        (
            "no message",
            policy(json!([{"expression": "object.spec.replicas <= 5"}])),
            deploy(6),
        ),
        (
            "message",
            policy(
                json!([{"expression": "object.spec.replicas <= 5", "message": "at most 5 replicas"}]),
            ),
            deploy(6),
        ),
        (
            "messageExpression wins",
            policy(
                json!([{"expression": "object.spec.replicas <= 5", "message": "m",
                "messageExpression": "'replicas ' + string(object.spec.replicas) + ' > 5'"}]),
            ),
            deploy(6),
        ),
        (
            "empty messageExpression falls back",
            policy(
                json!([{"expression": "object.spec.replicas <= 5", "message": "m", "messageExpression": "''"}]),
            ),
            deploy(6),
        ),
        (
            "reason",
            policy(json!([{"expression": "false", "message": "no", "reason": "Forbidden"}])),
            deploy(1),
        ),
        (
            "error fails closed",
            policy(json!([{"expression": "object.spec.missing > 1"}])),
            deploy(1),
        ),
        (
            "error ignored",
            json!({"failurePolicy": "Ignore", "validations": [{"expression": "object.spec.missing > 1"}]}),
            deploy(1),
        ),
        (
            "variables",
            json!({"variables": [{"name": "r", "expression": "object.spec.replicas"}, {"name": "big", "expression": "variables.r > 2"}],
                "validations": [{"expression": "!variables.big", "messageExpression": "'too big: ' + string(variables.r)"}]}),
            deploy(4),
        ),
        (
            "matchConditions skip",
            json!({"matchConditions": [{"name": "prod-only", "expression": "namespaceObject.metadata.labels.env == 'dev'"}],
                "validations": [{"expression": "false"}]}),
            deploy(1),
        ),
        (
            "matchConditions: false beats an error",
            json!({"matchConditions": [{"name": "broken", "expression": "object.nope == 1"},
                {"name": "never", "expression": "false"}],
                "validations": [{"expression": "false"}]}),
            deploy(1),
        ),
        (
            "matchConditions: an error fails closed",
            json!({"matchConditions": [{"name": "broken", "expression": "object.nope == 1"}],
                "validations": [{"expression": "true"}]}),
            deploy(1),
        ),
        (
            "request variable",
            policy(
                json!([{"expression": "request.userInfo.username != 'admin'", "message": "not admins"}]),
            ),
            deploy(1),
        ),
    ];
    let out: String = cases
        .into_iter()
        .map(|(what, p, obj)| format!("{what}: {}\n", run(&bound(p, &["Deny"], None), obj, None)))
        .collect();
    expect_test::expect![[r#"
        passes: allowed
        no message: ["Deny"] failed expression: object.spec.replicas <= 5 (Invalid)
        message: ["Deny"] at most 5 replicas (Invalid)
        messageExpression wins: ["Deny"] replicas 6 > 5 (Invalid)
        empty messageExpression falls back: ["Deny"] m (Invalid)
        reason: ["Deny"] no (Forbidden)
        error fails closed: ["Deny"] expression 'object.spec.missing > 1' resulted in error: no such key: missing (Invalid)
        error ignored: allowed
        variables: ["Deny"] too big: 4 (Invalid)
        matchConditions skip: allowed
        matchConditions: false beats an error: allowed
        matchConditions: an error fails closed: ["Deny"] failed to evaluate matchCondition 'broken': no such key: nope (Invalid)
        request variable: ["Deny"] not admins (Invalid)
    "#]].assert_eq(&out);
}

#[test]
fn params() {
    let policy = json!({"paramKind": {"apiVersion": "v1", "kind": "ConfigMap"},
        "validations": [{"expression": "object.spec.replicas <= int(params.data.max)",
            "messageExpression": "'max ' + params.data.max"}]});
    let deploy = json!({"spec": {"replicas": 4}});
    let limit = |m: &str| json!({"data": {"max": m}});
    let allow = Some(json!({"name": "limits", "parameterNotFoundAction": "Allow"}));
    let deny = Some(json!({"name": "limits", "parameterNotFoundAction": "Deny"}));
    let cases: Vec<(&str, Option<Value>, Params)> = vec![
        ("within", allow.clone(), Some(Ok(vec![limit("5")]))),
        ("over", allow.clone(), Some(Ok(vec![limit("3")]))),
        (
            "each param",
            allow.clone(),
            Some(Ok(vec![limit("3"), limit("5"), limit("2")])),
        ),
        ("missing, Allow", allow, Some(Ok(vec![]))),
        ("missing, Deny", deny.clone(), Some(Ok(vec![]))),
        (
            "lookup failed",
            deny,
            Some(Err("paramKind v1 Nope is not served".into())),
        ),
    ];
    let out: String = cases
        .into_iter()
        .map(|(what, pref, params)| {
            format!(
                "{what}: {}\n",
                run(
                    &bound(policy.clone(), &["Deny", "Warn"], pref),
                    deploy.clone(),
                    params
                )
            )
        })
        .collect();
    expect_test::expect![[r#"
        within: allowed
        over: ["Deny", "Warn"] max 3 (Invalid)
        each param: ["Deny", "Warn"] max 3 (Invalid); ["Deny", "Warn"] max 2 (Invalid)
        missing, Allow: allowed
        missing, Deny: ["Deny", "Warn"] failed to configure binding: no params found for policy binding with `Deny` parameterNotFoundAction (Invalid)
        lookup failed: ["Deny", "Warn"] failed to configure binding: paramKind v1 Nope is not served (Invalid)
    "#]].assert_eq(&out);
}
