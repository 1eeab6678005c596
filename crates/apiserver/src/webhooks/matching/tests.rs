use serde_json::{json, Value};

use super::*;

fn rule(v: Value) -> Rule {
    serde_json::from_value(v).expect("rule")
}

fn attrs<'a>(
    op: Operation,
    group: &'a str,
    resource: &'a str,
    sub: &'a str,
    namespaced: bool,
) -> Attributes<'a> {
    Attributes {
        operation: op,
        group,
        version: "v1",
        resource,
        subresource: sub,
        namespaced,
        namespace: if namespaced { "default" } else { "" },
        name: "x",
        object: None,
        old_object: None,
        served_versions: &["v1"],
    }
}

#[test]
fn rules() {
    let cm = attrs(Operation::Create, "", "configmaps", "", true);
    let cm_update = attrs(Operation::Update, "", "configmaps", "", true);
    let status = attrs(Operation::Update, "", "pods", "status", true);
    let deploy = attrs(Operation::Create, "apps", "deployments", "", true);
    let node = attrs(Operation::Create, "", "nodes", "", false);
    let all =
        json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"]});
    let cases: Vec<(Value, &Attributes<'_>)> = vec![
        (
            json!({"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}),
            &cm,
        ),
        (
            json!({"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}),
            &cm_update,
        ),
        (
            json!({"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}),
            &deploy,
        ),
        (all.clone(), &status),
        (
            json!({"operations": ["*"], "apiGroups": [""], "apiVersions": ["*"], "resources": ["pods/*"]}),
            &status,
        ),
        (
            json!({"operations": ["*"], "apiGroups": [""], "apiVersions": ["*"], "resources": ["*/status"]}),
            &status,
        ),
        (
            json!({"operations": ["*"], "apiGroups": [""], "apiVersions": ["*"], "resources": ["pods"]}),
            &status,
        ),
        (
            json!({"operations": ["*"], "apiGroups": ["apps"], "apiVersions": ["v1beta1"], "resources": ["deployments"]}),
            &deploy,
        ),
        (
            json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "scope": "Namespaced"}),
            &node,
        ),
        (
            json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "scope": "Cluster"}),
            &node,
        ),
        (
            json!({"operations": ["*"], "apiGroups": ["*"], "apiVersions": ["*"], "resources": ["*"], "resourceNames": ["y"]}),
            &cm,
        ),
    ];
    let out: String = cases
        .iter()
        .map(|(r, a)| {
            format!(
                "{} {}{}{} => {}\n",
                a.operation.as_str(),
                a.resource,
                if a.subresource.is_empty() { "" } else { "/" },
                a.subresource,
                any_rule_matches(&[rule(r.clone())], a, Some("Exact")),
            )
        })
        .collect();
    expect_test::expect![[r#"
        CREATE configmaps => true
        UPDATE configmaps => false
        CREATE deployments => false
        UPDATE pods/status => false
        UPDATE pods/status => true
        UPDATE pods/status => true
        UPDATE pods/status => false
        CREATE deployments => false
        CREATE nodes => false
        CREATE nodes => true
        CREATE configmaps => false
    "#]]
    .assert_eq(&out);
}

#[test]
fn equivalent_versions() {
    let mut a = attrs(
        Operation::Create,
        "autoscaling",
        "horizontalpodautoscalers",
        "",
        true,
    );
    a.version = "v2";
    a.served_versions = &["v1", "v2"];
    let r = rule(
        json!({"operations": ["*"], "apiGroups": ["autoscaling"], "apiVersions": ["v1"], "resources": ["horizontalpodautoscalers"]}),
    );
    let got = [
        any_rule_matches(std::slice::from_ref(&r), &a, None),
        any_rule_matches(std::slice::from_ref(&r), &a, Some("Equivalent")),
        any_rule_matches(std::slice::from_ref(&r), &a, Some("Exact")),
    ];
    assert_eq!(got, [true, true, false]);
}

/// What, selector, new object, old object.
type ObjectCase<'a> = (
    &'a str,
    Option<&'a Value>,
    Option<&'a Value>,
    Option<&'a Value>,
);
/// What, selector, request, the namespace's labels.
type NamespaceCase<'a> = (
    &'a str,
    &'a Value,
    &'a Attributes<'a>,
    Option<&'a serde_json::Map<String, Value>>,
);

#[test]
fn selectors() {
    let team_a = json!({"metadata": {"labels": {"team": "a"}}});
    let team_b = json!({"metadata": {"labels": {"team": "b"}}});
    let bare = json!({"metadata": {}});
    let sel = json!({"matchLabels": {"team": "a"}});
    let not_a =
        json!({"matchExpressions": [{"key": "team", "operator": "NotIn", "values": ["a"]}]});
    let ns_labels: serde_json::Map<String, Value> =
        serde_json::from_value(json!({"env": "prod"})).expect("map");
    let cases: Vec<ObjectCase<'_>> = vec![
        ("new matches", Some(&sel), Some(&team_a), None),
        ("new differs", Some(&sel), Some(&team_b), None),
        ("old matches", Some(&sel), Some(&team_b), Some(&team_a)),
        ("no labels", Some(&sel), Some(&bare), None),
        ("no labels, NotIn", Some(&not_a), Some(&bare), None),
        ("no selector", None, Some(&bare), None),
        ("delete, old matches", Some(&sel), None, Some(&team_a)),
    ];
    let mut out = String::new();
    for (what, s, new, old) in cases {
        let mut a = attrs(Operation::Update, "", "configmaps", "", true);
        a.object = new;
        a.old_object = old;
        out.push_str(&format!(
            "object {what} => {}\n",
            object_selector_matches(s, &a)
        ));
    }
    let prod = json!({"matchLabels": {"env": "prod"}});
    let dev = json!({"matchLabels": {"env": "dev"}});
    let cm = attrs(Operation::Create, "", "configmaps", "", true);
    let node = attrs(Operation::Create, "", "nodes", "", false);
    let mut ns = attrs(Operation::Create, "", "namespaces", "", false);
    let ns_obj = json!({"metadata": {"labels": {"env": "dev"}}});
    ns.object = Some(&ns_obj);
    let ns_cases: Vec<NamespaceCase<'_>> = vec![
        ("configmap in prod", &prod, &cm, Some(&ns_labels)),
        ("configmap in prod, want dev", &dev, &cm, Some(&ns_labels)),
        ("configmap, namespace unknown", &prod, &cm, None),
        ("node (cluster-scoped)", &dev, &node, None),
        ("namespace by own labels", &dev, &ns, None),
        ("namespace by own labels, want prod", &prod, &ns, None),
    ];
    for (what, s, a, labels) in ns_cases {
        out.push_str(&format!(
            "namespace {what} => {}\n",
            namespace_selector_matches(Some(s), a, labels)
        ));
    }
    expect_test::expect![[r#"
        object new matches => true
        object new differs => false
        object old matches => true
        object no labels => false
        object no labels, NotIn => true
        object no selector => true
        object delete, old matches => true
        namespace configmap in prod => true
        namespace configmap in prod, want dev => false
        namespace configmap, namespace unknown => false
        namespace node (cluster-scoped) => true
        namespace namespace by own labels => true
        namespace namespace by own labels, want prod => false
    "#]]
    .assert_eq(&out);
}
