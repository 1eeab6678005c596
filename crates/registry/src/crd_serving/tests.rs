use super::*;
use expect_test::expect;
use serde_json::json;

fn widget_crd() -> Value {
    json!({
        "metadata": {"name": "widgets.example.com"},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wd"], "categories": ["all"]},
            "versions": [
                {"name": "v1", "served": true, "storage": true,
                 "schema": {"openAPIV3Schema": {"type": "object"}},
                 "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
                 "additionalPrinterColumns": [
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Ready", "type": "string", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status", "priority": 1}
                 ]},
                {"name": "v1beta1", "served": true, "storage": false, "deprecated": true},
                {"name": "v1alpha1", "served": false, "storage": false}
            ]
        }
    })
}

#[test]
fn served_versions_of_a_crd() {
    let served = served_versions(&widget_crd());
    let summary: Vec<String> = served
        .iter()
        .map(|v| {
            format!(
                "{}/{} {} list={} singular={} ns={} short={:?} cats={:?} storage={} ({}) status={} scale={:?} columns={:?} warning={:?} prefix={}",
                v.group, v.version, v.kind, v.list_kind, v.singular, v.namespaced, v.short_names,
                v.categories, v.storage, v.storage_version, v.status,
                v.scale.as_ref().map(|s| (&s.spec_replicas, &s.status_replicas, &s.label_selector)),
                v.columns.iter().map(|c| (&c.name, &c.type_, c.priority)).collect::<Vec<_>>(),
                v.deprecation_warning, v.storage_prefix
            )
        })
        .collect();
    expect![[r#"
        example.com/v1 Widget list=WidgetList singular=widget ns=true short=["wd"] cats=["all"] storage=true (v1) status=true scale=Some((".spec.replicas", ".status.replicas", Some(".status.selector"))) columns=[("Replicas", "integer", 0), ("Ready", "string", 1)] warning=None prefix=example.com/widgets
        example.com/v1beta1 Widget list=WidgetList singular=widget ns=true short=["wd"] cats=["all"] storage=false (v1) status=false scale=None columns=[("Age", "date", 0)] warning=Some("example.com/v1beta1 Widget is deprecated") prefix=example.com/widgets"#]]
    .assert_eq(&summary.join("\n"));
    assert!(served_versions(&json!({"spec": {}})).is_empty());
}

#[test]
fn version_priority() {
    let mut versions = vec![
        "v1alpha1",
        "foo",
        "v2",
        "v1beta1",
        "v1",
        "v11alpha2",
        "v1beta2",
        "bar",
        "v10",
    ];
    versions.sort_by(|a, b| version_order(a, b));
    assert_eq!(
        versions,
        [
            "v10",
            "v2",
            "v1",
            "v1beta2",
            "v1beta1",
            "v11alpha2",
            "v1alpha1",
            "bar",
            "foo"
        ]
    );
}

#[test]
fn json_paths() {
    let obj = json!({
        "metadata": {"name": "a", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {"replicas": 3, "items": [{"name": "x", "n": 1}, {"name": "y", "n": 2}]},
        "status": {"conditions": [{"type": "Ready", "status": "True"}, {"type": "Synced", "status": "False"}]}
    });
    let cases = [
        (".spec.replicas", "[3]"),
        ("{.spec.replicas}", "[3]"),
        (".spec.items[1].name", "[\"y\"]"),
        (".spec.items[-1].n", "[2]"),
        (".spec.items[*].name", "[\"x\",\"y\"]"),
        (
            ".status.conditions[?(@.type==\"Ready\")].status",
            "[\"True\"]",
        ),
        (
            ".status.conditions[?(@.type=='Synced')].status",
            "[\"False\"]",
        ),
        (".spec.items[?(@.n==2)].name", "[\"y\"]"),
        (".metadata.labels['app.kubernetes.io/name']", "[\"web\"]"),
        (".spec.missing", "[]"),
        (".spec.items[7]", "[]"),
    ];
    for (path, want) in cases {
        let p = JsonPath::parse(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let got = serde_json::to_string(&p.find(&obj)).unwrap();
        assert_eq!(got, want, "{path}");
    }
    for bad in ["spec.replicas", ".spec[", ".spec[?(foo)]"] {
        assert!(JsonPath::parse(bad).is_err(), "{bad}");
    }
    assert_eq!(
        JsonPath::parse(".spec.replicas").unwrap().fields(),
        Some(vec!["spec", "replicas"])
    );
}

#[test]
fn table_cells() {
    let served = served_versions(&widget_crd());
    let obj = json!({"metadata": {"name": "w1", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "spec": {"replicas": 2}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
    let now = crate::printers::parse_timestamp("2026-01-01T00:05:00Z").unwrap();
    assert_eq!(
        cells(&served[0].columns, &obj, now),
        vec![json!("w1"), json!(2), json!("True")]
    );
    assert_eq!(
        cells(&served[1].columns, &obj, now),
        vec![json!("w1"), json!("5m")]
    );
    let defs = column_definitions(&served[0].columns);
    assert_eq!(defs[0]["format"], "name");
    assert_eq!(defs[2]["priority"], 1);
}

#[test]
fn established_condition() {
    let mut crd = widget_crd();
    assert!(!is_established(&crd));
    crd["status"] = json!({"conditions": [{"type": "Established", "status": "True"}]});
    assert!(is_established(&crd));
}
