use super::*;
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::discovery::v1::EndpointConditions;

fn ep(name: &str, ready: bool) -> Endpoint {
    Endpoint {
        addresses: vec![format!("ip-{name}")],
        conditions: Some(EndpointConditions {
            ready: Some(ready),
            serving: Some(ready),
            terminating: Some(false),
        }),
        target_ref: Some(ObjectReference {
            kind: Some("Pod".into()),
            namespace: Some("ns".into()),
            name: Some(name.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn port(p: i32) -> Vec<EndpointPort> {
    vec![EndpointPort {
        name: Some(String::new()),
        port: Some(p),
        protocol: Some("TCP".into()),
        app_protocol: None,
    }]
}

/// "a b c" (ready) or "a b! c" (b not ready) → endpoints.
fn eps(s: &str) -> Vec<Endpoint> {
    s.split_whitespace()
        .map(|n| match n.strip_suffix('!') {
            Some(n) => ep(n, false),
            None => ep(n, true),
        })
        .collect()
}

fn existing(name: &str, p: i32, endpoints: &str) -> Existing {
    Existing {
        name: name.into(),
        ports: port(p),
        endpoints: eps(endpoints),
        meta_current: true,
    }
}

fn desired(groups: &[(i32, &str)]) -> BTreeMap<PortsKey, Group> {
    groups
        .iter()
        .map(|(p, e)| {
            let g = Group {
                ports: port(*p),
                endpoints: eps(e),
            };
            (ports_key(&g.ports), g)
        })
        .collect()
}

fn names(g: &Group) -> String {
    g.endpoints
        .iter()
        .map(|e| {
            let n = e
                .target_ref
                .as_ref()
                .and_then(|r| r.name.clone())
                .unwrap_or_default();
            if e.conditions.as_ref().and_then(|c| c.ready) == Some(false) {
                format!("{n}!")
            } else {
                n
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn render(p: &Plan) -> String {
    let mut out = Vec::new();
    for g in &p.create {
        out.push(format!("create [{}]", names(g)));
    }
    for (n, g) in &p.update {
        out.push(format!("update {n} [{}]", names(g)));
    }
    for n in &p.delete {
        out.push(format!("delete {n}"));
    }
    out.join("; ")
}

/// (what, existing slices, desired (port, endpoints), limit, plan)
type Case<'a> = (&'a str, Vec<Existing>, Vec<(i32, &'a str)>, usize, &'a str);

#[test]
fn plan_table() {
    let cases: Vec<Case> = vec![
        (
            "nothing to do",
            vec![existing("s1", 80, "a b")],
            vec![(80, "a b")],
            3,
            "",
        ),
        ("first slice", vec![], vec![(80, "a b")], 3, "create [a b]"),
        (
            "split at the limit",
            vec![],
            vec![(80, "a b c d e")],
            2,
            "create [a b]; create [c d]; create [e]",
        ),
        (
            "a readiness change updates only its slice",
            vec![existing("s1", 80, "a b"), existing("s2", 80, "c d")],
            vec![(80, "a b c! d")],
            2,
            "update s2 [c! d]",
        ),
        (
            "a new endpoint fills the slice that changes anyway",
            vec![existing("s1", 80, "a b c"), existing("s2", 80, "d e")],
            vec![(80, "a b c d! e f")],
            3,
            "update s2 [d! e f]",
        ),
        (
            "a new endpoint goes to the fullest untouched slice it fits",
            vec![existing("s1", 80, "a"), existing("s2", 80, "b c")],
            vec![(80, "a b c d")],
            3,
            "update s2 [b c d]",
        ),
        (
            "no room anywhere: a new slice",
            vec![existing("s1", 80, "a b")],
            vec![(80, "a b c")],
            2,
            "create [c]",
        ),
        (
            "an emptied slice is deleted",
            vec![existing("s1", 80, "a b"), existing("s2", 80, "c")],
            vec![(80, "a b")],
            2,
            "delete s2",
        ),
        (
            "an emptied slice is reused rather than deleted and created",
            vec![existing("s1", 80, "a b"), existing("s2", 80, "c d")],
            vec![(80, "a b e f")],
            2,
            "update s2 [e f]",
        ),
        (
            "a port change moves endpoints to slices of the new ports",
            vec![existing("s1", 80, "a b")],
            vec![(81, "a b")],
            2,
            "create [a b]; delete s1",
        ),
        (
            "stale labels rewrite the slice",
            vec![Existing {
                meta_current: false,
                ..existing("s1", 80, "a")
            }],
            vec![(80, "a")],
            2,
            "update s1 [a]",
        ),
    ];
    for (what, existing, want, max, expected) in cases {
        let got = plan(&existing, &desired(&want), max);
        assert_eq!(render(&got), expected, "{what}");
    }
}

#[test]
fn hundred_fifty_endpoints_make_two_slices() {
    let all: Vec<String> = (0..150).map(|i| format!("p{i:03}")).collect();
    let got = plan(&[], &desired(&[(80, &all.join(" "))]), 100);
    let sizes: Vec<usize> = got.create.iter().map(|g| g.endpoints.len()).collect();
    assert_eq!(sizes, vec![100, 50]);
}
