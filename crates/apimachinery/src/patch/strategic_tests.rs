//! Data-driven cases for strategic merge patch: (original, patch, meta, expected).
//! Cases marked "upstream" restate cases from upstream's strategicpatch tests.

use serde_json::{json, Value};

use super::test_meta::TestMeta;
use super::{strategic_merge_patch, PatchError};

/// Meta shaped like upstream's test `MergeItem`.
fn merge_item_meta() -> Value {
    json!({
        "mergingList": ["key:name", {"mergingList": ["key:name"], "mergingIntList": ["scalars"]}],
        "mergingIntList": ["scalars"],
        "nonMergingList": ["replace"],
        "nonMergingIntList": ["replace"],
        "retainKeysMergingList": ["key:name"],
        "retainKeysMap": {"mergingList": ["key:name"], "mergingIntList": ["scalars"]},
    })
}

/// Meta for the parts of Deployment/Pod that kubectl's patches touch.
fn k8s_meta() -> Value {
    let pod_spec = json!({
        "containers": ["key:name", {
            "env": ["key:name"],
            "ports": ["key:containerPort"],
            "volumeMounts": ["key:mountPath"],
        }],
        "volumes": ["key:name"],
        "tolerations": ["replace"],
    });
    json!({
        "metadata": {"finalizers": ["scalars"], "ownerReferences": ["key:uid"]},
        "spec": {"template": {"spec": pod_spec.clone()}, "containers": pod_spec["containers"].clone()},
    })
}

struct Case {
    name: &'static str,
    meta: Value,
    original: Value,
    patch: Value,
    want: Result<Value, &'static str>,
}

fn run(cases: Vec<Case>) {
    let mut failures = Vec::new();
    for c in cases {
        let meta = TestMeta::from_json(&c.meta);
        let got = strategic_merge_patch(&c.original, &c.patch, &meta).map_err(|e| e.to_string());
        let want = c.want.map_err(str::to_string);
        if got != want {
            failures.push(format!(
                "case {:?}\n  got:  {got:?}\n  want: {want:?}",
                c.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn upstream_cases() {
    let m = merge_item_meta;
    run(vec![
        Case {
            name: "upstream: unique scalars when merging lists",
            meta: m(),
            original: json!({"mergingIntList": [1, 2]}),
            patch: json!({"mergingIntList": [2, 3]}),
            want: Ok(json!({"mergingIntList": [1, 2, 3]})),
        },
        Case {
            name: "upstream: delete map from nested map",
            meta: m(),
            original: json!({"simpleMap": {"key1": 1, "key2": 1}}),
            patch: json!({"simpleMap": {"$patch": "delete"}}),
            want: Ok(json!({"simpleMap": {}})),
        },
        Case {
            name: "upstream: delete all items from merging list",
            meta: m(),
            original: json!({"mergingList": [{"name": 1}, {"name": 2}]}),
            patch: json!({"mergingList": [{"$patch": "replace"}]}),
            want: Ok(json!({"mergingList": []})),
        },
        Case {
            name: "upstream: merge empty merging lists",
            meta: m(),
            original: json!({"mergingList": []}),
            patch: json!({"mergingList": []}),
            want: Ok(json!({"mergingList": []})),
        },
        Case {
            name: "upstream: delete all keys from map",
            meta: m(),
            original: json!({"name": 1, "value": 1}),
            patch: json!({"$patch": "replace"}),
            want: Ok(json!({})),
        },
        Case {
            name: "upstream: add key and delete all keys from map",
            meta: m(),
            original: json!({"name": 1, "value": 1}),
            patch: json!({"other": "a", "$patch": "replace"}),
            want: Ok(json!({"other": "a"})),
        },
        Case {
            name: "upstream: delete all duplicate entries in a merging list",
            meta: m(),
            original: json!({"mergingList": [{"name": 1}, {"name": 1}, {"name": 2, "value": "a"}, {"name": 3}, {"name": 3}]}),
            patch: json!({"mergingList": [{"name": 1, "$patch": "delete"}, {"name": 3, "$patch": "delete"}]}),
            want: Ok(json!({"mergingList": [{"name": 2, "value": "a"}]})),
        },
        Case {
            name: "upstream: preserve the order from the patch in a merging list",
            meta: m(),
            original: json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            patch: json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "other": "x"}]}),
            want: Ok(json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}, {"name": 2, "value": "b", "other": "x"}]})),
        },
        Case {
            name: "upstream: preserve the order from the patch in a merging list 2",
            meta: m(),
            original: json!({"mergingList": [{"name": 1}, {"name": 2, "value": "b"}, {"name": 3}]}),
            patch: json!({"mergingList": [{"name": 3, "value": "c"}, {"name": 1, "value": "a"}]}),
            want: Ok(json!({"mergingList": [{"name": 2, "value": "b"}, {"name": 3, "value": "c"}, {"name": 1, "value": "a"}]})),
        },
        Case {
            name: "upstream: preserve the order from the patch in a merging int list",
            meta: m(),
            original: json!({"mergingIntList": [1, 2, 3]}),
            patch: json!({"mergingIntList": [3, 1, 2]}),
            want: Ok(json!({"mergingIntList": [3, 1, 2]})),
        },
        Case {
            name: "upstream: preserve the order from the patch in a merging int list 2",
            meta: m(),
            original: json!({"mergingIntList": [1, 2, 3]}),
            patch: json!({"mergingIntList": [3, 1]}),
            want: Ok(json!({"mergingIntList": [2, 3, 1]})),
        },
        Case {
            name: "upstream: $setElementOrder lists an item the list lacks",
            meta: m(),
            original: json!({"mergingList": [{"name": 1}, {"name": 3}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 3}, {"name": 2}, {"name": 1}],
                "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}],
            }),
            want: Ok(json!({"mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}]})),
        },
        Case {
            name: "upstream: $setElementOrder lists an item the int list lacks",
            meta: m(),
            original: json!({"mergingIntList": [1, 3]}),
            patch: json!({"$setElementOrder/mergingIntList": [3, 2, 1]}),
            want: Ok(json!({"mergingIntList": [3, 1]})),
        },
        Case {
            name: "upstream: order of $setElementOrder and patch list must match",
            meta: m(),
            original: json!({"mergingList": [{"name": 1}, {"name": 3}, {"name": 2}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 1}, {"name": 2}, {"name": 3}],
                "mergingList": [{"name": 3, "value": 3}, {"name": 1, "value": 1}],
            }),
            want: Err("The order in patch list:\n[map[name:3 value:3] map[name:1 value:1]]\n doesn't match $setElementOrder list:\n[map[name:1] map[name:2] map[name:3]]\n"),
        },
        Case {
            name: "upstream: order of $setElementOrder and int patch list must match",
            meta: m(),
            original: json!({"mergingIntList": [1, 3, 2]}),
            patch: json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3, 1]}),
            want: Err("The order in patch list:\n[3 1]\n doesn't match $setElementOrder list:\n[1 2 3]\n"),
        },
        Case {
            name: "upstream: missing merge key",
            meta: m(),
            original: json!({"mergingList": [{"name": 1, "value": "a"}]}),
            patch: json!({"mergingList": [{"value": "b"}]}),
            want: Err("map: map[value:b] does not contain declared merge key: name"),
        },
        Case {
            name: "upstream: $deleteFromPrimitiveList of an absent item",
            meta: m(),
            original: json!({"mergingIntList": [1, 2]}),
            patch: json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            want: Ok(json!({"mergingIntList": [1, 2]})),
        },
        Case {
            name: "upstream: $deleteFromPrimitiveList on an absent list does not create it",
            meta: m(),
            original: json!({"foo": ["bar"]}),
            patch: json!({"$deleteFromPrimitiveList/mergingIntList": [3]}),
            want: Ok(json!({"foo": ["bar"]})),
        },
        Case {
            name: "upstream: $deleteFromPrimitiveList on a merging list",
            meta: m(),
            original: json!({"mergingIntList": [1, 2, 3]}),
            patch: json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
            want: Ok(json!({"mergingIntList": [1, 3]})),
        },
        Case {
            name: "upstream: $deleteFromPrimitiveList on a non-merging list",
            meta: m(),
            original: json!({"nonMergingIntList": [1, 2, 3]}),
            patch: json!({"$deleteFromPrimitiveList/nonMergingIntList": [2]}),
            want: Ok(json!({"nonMergingIntList": [1, 3]})),
        },
        Case {
            name: "upstream: delete items in lists of scalars (three-way)",
            meta: m(),
            original: json!({"mergingIntList": [1, 2, 3, 3, 4]}),
            patch: json!({"$setElementOrder/mergingIntList": [1, 2], "$deleteFromPrimitiveList/mergingIntList": [3]}),
            want: Ok(json!({"mergingIntList": [1, 2, 4]})),
        },
        Case {
            name: "upstream: add and delete items in lists of scalars",
            meta: m(),
            original: json!({"mergingIntList": [1, 2, 3]}),
            patch: json!({
                "$setElementOrder/mergingIntList": [1, 2, 4],
                "$deleteFromPrimitiveList/mergingIntList": [3],
                "mergingIntList": [4],
            }),
            want: Ok(json!({"mergingIntList": [1, 2, 4]})),
        },
        Case {
            name: "upstream: merge lists of maps (three-way)",
            meta: m(),
            original: json!({"mergingList": [{"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": 4}, {"name": 1}, {"name": 2}, {"name": 3}],
                "mergingList": [{"name": 4, "value": 4}, {"name": 3, "value": 3}],
            }),
            want: Ok(json!({"mergingList": [
                {"name": 4, "value": 4}, {"name": 1, "other": "a"}, {"name": 2, "value": 2, "other": "b"}, {"name": 3, "value": 3},
            ]})),
        },
        Case {
            name: "upstream: nested patch merge with empty list (three-way)",
            meta: m(),
            original: json!({"name": "hi", "mergingList": [{"name": "hello2"}]}),
            patch: json!({
                "$setElementOrder/mergingList": [{"name": "hello"}, {"name": "doesntexist"}],
                "mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}],
            }),
            want: Ok(json!({"name": "hi", "mergingList": [{"name": "hello"}, {"name": "hello2"}]})),
        },
        Case {
            name: "upstream: nested patch merge with empty list (two-way)",
            meta: m(),
            original: json!({"name": "hi"}),
            patch: json!({"mergingList": [{"name": "hello"}, {"$patch": "delete", "name": "doesntexist"}]}),
            want: Ok(json!({"name": "hi", "mergingList": [{"name": "hello"}]})),
        },
        Case {
            name: "upstream: add field and delete field from map",
            meta: m(),
            original: json!({"name": 1, "other": "a"}),
            patch: json!({"name": null, "value": 1}),
            want: Ok(json!({"other": "a", "value": 1})),
        },
        Case {
            name: "upstream: delete field from nested map",
            meta: m(),
            original: json!({"simpleMap": {"key1": 1, "key2": 1, "other": "a"}}),
            patch: json!({"simpleMap": {"key2": null}}),
            want: Ok(json!({"simpleMap": {"key1": 1, "other": "a"}})),
        },
        Case {
            name: "upstream: null for an absent field is dropped",
            meta: m(),
            original: json!({"name": 2}),
            patch: json!({"name": 1, "value": 1, "other": null}),
            want: Ok(json!({"name": 1, "value": 1})),
        },
        Case {
            name: "upstream: replace list of scalars",
            meta: m(),
            original: json!({"nonMergingIntList": [1, 2]}),
            patch: json!({"nonMergingIntList": [2, 3]}),
            want: Ok(json!({"nonMergingIntList": [2, 3]})),
        },
        Case {
            name: "upstream: retainKeys drops the keys not listed",
            meta: m(),
            original: json!({"retainKeysMap": {"name": "foo", "value": "a", "other": "x"}}),
            patch: json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "b"}}),
            want: Ok(json!({"retainKeysMap": {"name": "foo", "value": "b"}})),
        },
        Case {
            name: "upstream: retainKeys map merges when no directive is present",
            meta: m(),
            original: json!({"retainKeysMap": {"name": "foo", "value": "a"}}),
            patch: json!({"retainKeysMap": {"value": null}}),
            want: Ok(json!({"retainKeysMap": {"name": "foo"}})),
        },
        Case {
            name: "a patch key missing from $retainKeys",
            meta: m(),
            original: json!({"retainKeysMap": {"name": "foo"}}),
            patch: json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "b"}}),
            want: Err("invalid patch format of retainKeys"),
        },
        Case {
            name: "$retainKeys that is not a list",
            meta: m(),
            original: json!({}),
            patch: json!({"$retainKeys": "name"}),
            want: Err("invalid patch format of retainKeys"),
        },
        Case {
            // A new scalar lands before the server-only ones, as upstream orders it.
            name: "nested merging list inside a merged item",
            meta: m(),
            original: json!({"mergingList": [{"name": 1, "mergingList": [{"name": "a", "value": 1}], "mergingIntList": [1]}]}),
            patch: json!({"mergingList": [{"name": 1, "mergingList": [{"name": "a", "value": 2}, {"name": "b"}], "mergingIntList": [2]}]}),
            want: Ok(json!({"mergingList": [{"name": 1, "mergingList": [{"name": "a", "value": 2}, {"name": "b"}], "mergingIntList": [2, 1]}]})),
        },
    ]);
}

#[test]
fn kubectl_shaped_cases() {
    let k = k8s_meta;
    let deploy = |containers: Value| json!({"spec": {"replicas": 1, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}});
    run(vec![
        Case {
            name: "kubectl apply removing an env var",
            meta: k(),
            original: deploy(
                json!([{"name": "app", "image": "nginx", "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}]),
            ),
            patch: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{"$setElementOrder/env": [{"name": "A"}], "env": [{"$patch": "delete", "name": "B"}], "name": "app"}],
            }}}}),
            want: Ok(deploy(
                json!([{"name": "app", "image": "nginx", "env": [{"name": "A", "value": "1"}]}]),
            )),
        },
        Case {
            name: "kubectl apply adding an env var and a port, in order",
            meta: k(),
            original: deploy(
                json!([{"name": "app", "image": "nginx", "env": [{"name": "B", "value": "2"}]}]),
            ),
            patch: json!({"spec": {"template": {"spec": {
                "$setElementOrder/containers": [{"name": "app"}],
                "containers": [{
                    "$setElementOrder/env": [{"name": "A"}, {"name": "B"}],
                    "env": [{"name": "A", "value": "1"}],
                    "name": "app",
                    "ports": [{"containerPort": 80}],
                }],
            }}}}),
            want: Ok(deploy(json!([{
                "name": "app", "image": "nginx",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "ports": [{"containerPort": 80}],
            }]))),
        },
        Case {
            name: "kubectl apply reordering containers only",
            meta: k(),
            original: deploy(json!([{"name": "a"}, {"name": "b"}])),
            patch: json!({"spec": {"template": {"spec": {"$setElementOrder/containers": [{"name": "b"}, {"name": "a"}]}}}}),
            want: Ok(deploy(json!([{"name": "b"}, {"name": "a"}]))),
        },
        Case {
            name: "kubectl label removing a label via null",
            meta: k(),
            original: json!({"metadata": {"name": "x", "labels": {"app": "web", "tier": "fe"}}}),
            patch: json!({"metadata": {"labels": {"tier": null}}}),
            want: Ok(json!({"metadata": {"name": "x", "labels": {"app": "web"}}})),
        },
        Case {
            name: "kubectl label adding a label",
            meta: k(),
            original: json!({"metadata": {"name": "x"}}),
            patch: json!({"metadata": {"labels": {"env": "prod"}}}),
            want: Ok(json!({"metadata": {"name": "x", "labels": {"env": "prod"}}})),
        },
        Case {
            name: "kubectl set image on the first container keeps the order",
            meta: k(),
            original: deploy(
                json!([{"name": "app", "image": "nginx:1"}, {"name": "sidecar", "image": "envoy:1"}]),
            ),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}}),
            want: Ok(deploy(
                json!([{"name": "app", "image": "nginx:2"}, {"name": "sidecar", "image": "envoy:1"}]),
            )),
        },
        Case {
            name: "kubectl set image on the second container keeps the order",
            meta: k(),
            original: deploy(
                json!([{"name": "app", "image": "nginx:1"}, {"name": "sidecar", "image": "envoy:1"}]),
            ),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy:2"}]}}}}),
            want: Ok(deploy(
                json!([{"name": "app", "image": "nginx:1"}, {"name": "sidecar", "image": "envoy:2"}]),
            )),
        },
        Case {
            name: "kubectl scale",
            meta: k(),
            original: deploy(json!([{"name": "app"}])),
            patch: json!({"spec": {"replicas": 5}}),
            want: Ok(
                json!({"spec": {"replicas": 5, "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app"}]}}}}),
            ),
        },
        Case {
            name: "kubectl rollout restart",
            meta: k(),
            original: deploy(json!([{"name": "app"}])),
            patch: json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"}}}}}),
            want: Ok(json!({"spec": {"replicas": 1, "template": {
                "metadata": {"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-01-02T03:04:05Z"}},
                "spec": {"containers": [{"name": "app"}]},
            }}})),
        },
        Case {
            name: "finalizer removal via $deleteFromPrimitiveList",
            meta: k(),
            original: json!({"metadata": {"finalizers": ["a.io/x", "b.io/y"]}}),
            patch: json!({"metadata": {"$setElementOrder/finalizers": ["b.io/y"], "$deleteFromPrimitiveList/finalizers": ["a.io/x"]}}),
            want: Ok(json!({"metadata": {"finalizers": ["b.io/y"]}})),
        },
        Case {
            name: "finalizer added as a set",
            meta: k(),
            original: json!({"metadata": {"finalizers": ["a"]}}),
            patch: json!({"metadata": {"finalizers": ["a", "b"]}}),
            want: Ok(json!({"metadata": {"finalizers": ["a", "b"]}})),
        },
        Case {
            name: "kubectl patch adding a container puts it first, as upstream",
            meta: k(),
            original: deploy(json!([{"name": "app", "image": "nginx"}])),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "envoy"}]}}}}),
            want: Ok(deploy(
                json!([{"name": "sidecar", "image": "envoy"}, {"name": "app", "image": "nginx"}]),
            )),
        },
        Case {
            name: "$patch: replace in a list item replaces the list",
            meta: k(),
            original: deploy(json!([{"name": "a"}, {"name": "b"}])),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}, {"$patch": "replace"}]}}}}),
            want: Ok(deploy(json!([{"name": "c"}]))),
        },
        Case {
            name: "$patch: replace on a map replaces the map",
            meta: k(),
            original: json!({"spec": {"nodeSelector": {"a": "1"}, "x": 1}}),
            patch: json!({"spec": {"nodeSelector": {"$patch": "replace", "b": "2"}}}),
            want: Ok(json!({"spec": {"nodeSelector": {"b": "2"}, "x": 1}})),
        },
        Case {
            name: "$patch: merge is the default",
            meta: k(),
            original: json!({"spec": {"nodeSelector": {"a": "1"}}}),
            patch: json!({"spec": {"nodeSelector": {"$patch": "merge", "b": "2"}}}),
            want: Ok(json!({"spec": {"nodeSelector": {"a": "1", "b": "2"}}})),
        },
        Case {
            name: "replace-strategy list is replaced whole",
            meta: k(),
            original: json!({"spec": {"template": {"spec": {"tolerations": [{"key": "a"}, {"key": "b"}]}}}}),
            patch: json!({"spec": {"template": {"spec": {"tolerations": [{"key": "c"}]}}}}),
            want: Ok(json!({"spec": {"template": {"spec": {"tolerations": [{"key": "c"}]}}}})),
        },
        Case {
            name: "ownerReferences merge by uid",
            meta: k(),
            original: json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a"}]}}),
            patch: json!({"metadata": {"ownerReferences": [{"uid": "1", "controller": true}, {"uid": "2", "name": "b"}]}}),
            want: Ok(
                json!({"metadata": {"ownerReferences": [{"uid": "1", "name": "a", "controller": true}, {"uid": "2", "name": "b"}]}}),
            ),
        },
        Case {
            name: "directives in a value the original lacks never reach the result",
            meta: k(),
            original: json!({"spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}}),
            patch: json!({"spec": {"template": {"spec": {
                "$setElementOrder/volumes": [{"name": "w"}],
                "volumes": [{"name": "v", "$patch": "delete"}, {"name": "w", "secret": {"secretName": "s", "x": null}}],
                "nodeSelector": {"$patch": "replace", "a": "1"},
            }}}}),
            want: Ok(json!({"spec": {"template": {"spec": {
                "containers": [{"name": "app"}],
                "volumes": [{"name": "w", "secret": {"secretName": "s"}}],
                "nodeSelector": {"a": "1"},
            }}}})),
        },
        Case {
            name: "deleting a list item that does not exist",
            meta: k(),
            original: deploy(json!([{"name": "app"}])),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "gone", "$patch": "delete"}]}}}}),
            want: Ok(deploy(json!([{"name": "app"}]))),
        },
        Case {
            name: "a value of another type replaces the original",
            meta: k(),
            original: json!({"spec": {"x": {"a": 1}}}),
            patch: json!({"spec": {"x": "s"}}),
            want: Ok(json!({"spec": {"x": "s"}})),
        },
        Case {
            name: "unknown $patch in a list item",
            meta: k(),
            original: deploy(json!([{"name": "app"}])),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "$patch": "foo"}]}}}}),
            want: Err("unknown patch type: foo in map: map[$patch:foo name:app]"),
        },
        Case {
            name: "unknown $patch on a map",
            meta: k(),
            original: json!({"spec": {}}),
            patch: json!({"spec": {"$patch": "foo"}}),
            want: Err("unknown patch type: foo in map: map[$patch:foo]"),
        },
        Case {
            name: "lists of lists",
            meta: k(),
            original: deploy(json!([{"name": "app"}])),
            patch: json!({"spec": {"template": {"spec": {"containers": [["x"]]}}}}),
            want: Err("lists of lists are not supported"),
        },
        Case {
            name: "original item without its merge key",
            meta: k(),
            original: deploy(json!([{"image": "x"}])),
            patch: json!({"spec": {"template": {"spec": {"containers": [{"name": "app"}]}}}}),
            want: Err("map: map[image:x] does not contain declared merge key: name"),
        },
        Case {
            name: "$setElementOrder that is not a list",
            meta: k(),
            original: json!({}),
            patch: json!({"metadata": {"$setElementOrder/finalizers": "a"}}),
            want: Err("invalid patch format of setElementOrder list"),
        },
        Case {
            name: "$deleteFromPrimitiveList that is not a list",
            meta: k(),
            original: json!({"metadata": {"finalizers": ["a"]}}),
            patch: json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            want: Err("invalid patch format of primitive list"),
        },
        Case {
            name: "a patch that is not an object",
            meta: k(),
            original: json!({}),
            patch: json!([1]),
            want: Err("invalid JSON document"),
        },
        Case {
            name: "mixed list item types",
            meta: k(),
            original: json!({"metadata": {"finalizers": ["a"]}}),
            patch: json!({"metadata": {"finalizers": [1]}}),
            want: Err("list element types are not identical: [[a] [1]]"),
        },
    ]);
}

#[test]
fn error_status_codes() {
    let cases = [
        (PatchError::StrategicBadJsonDoc, 400, "BadRequest"),
        (PatchError::BadPatchFormatForRetainKeys, 400, "BadRequest"),
        (PatchError::NoListOfLists, 422, "Invalid"),
        (PatchError::JsonPatchApply("x".into()), 422, "Invalid"),
        (
            PatchError::TooManyOperations {
                max: 10000,
                got: 10001,
            },
            413,
            "RequestEntityTooLarge",
        ),
        (
            PatchError::NoMergeKey {
                map: "map[]".into(),
                key: "name".into(),
            },
            500,
            "",
        ),
    ];
    for (err, code, reason) in cases {
        assert_eq!((err.status_code(), err.reason()), (code, reason), "{err}");
    }
    let e = PatchError::JsonPatchApply("testing value /a failed: test failed".into());
    assert_eq!(
        e.status_message(),
        "the server rejected our request due to an error in our request"
    );
    assert_eq!(
        e.cause().as_deref(),
        Some("testing value /a failed: test failed")
    );
}
