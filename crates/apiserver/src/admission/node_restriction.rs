//! NodeRestriction, the part the Node authorizer cannot decide before the body is read: a
//! node creates only its own Node, its own Lease in `kube-node-lease`, and its own
//! kube-dns EndpointSlice in `kube-system` (pure).

use serde_json::Value;

/// `Err(why)` when `node` may not create `obj` of `group`/`plural` in `namespace`.
pub fn admit_create(
    node: &str,
    group: &str,
    plural: &str,
    namespace: &str,
    obj: &Value,
) -> Result<(), String> {
    let name = crate::objects::name(obj);
    match (group, plural, namespace) {
        ("", "nodes", _) if name != node => Err(format!(
            "node {node:?} is not allowed to modify node {name:?}"
        )),
        ("coordination.k8s.io", "leases", "kube-node-lease") if name != node => {
            Err("can only access node lease with the same name as the requesting node".into())
        }
        ("discovery.k8s.io", "endpointslices", "kube-system")
            if name != format!("kube-dns-{node}") =>
        {
            Err(format!(
                "node {node:?} may only publish its own EndpointSlice \"kube-dns-{node}\""
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn a_node_creates_only_its_own() {
        let cases = [
            ("", "nodes", "", "n1"),
            ("", "nodes", "", "n2"),
            ("coordination.k8s.io", "leases", "kube-node-lease", "n1"),
            ("coordination.k8s.io", "leases", "kube-node-lease", "n2"),
            ("coordination.k8s.io", "leases", "default", "anything"),
            (
                "discovery.k8s.io",
                "endpointslices",
                "kube-system",
                "kube-dns-n1",
            ),
            (
                "discovery.k8s.io",
                "endpointslices",
                "kube-system",
                "kube-dns-n2",
            ),
            ("", "events", "default", "e"),
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|(g, p, ns, name)| {
                let obj = json!({"metadata": {"name": name}});
                format!("{p} {ns}/{name}: {:?}", admit_create("n1", g, p, ns, &obj))
            })
            .collect();
        expect![[r#"
            nodes /n1: Ok(())
            nodes /n2: Err("node \"n1\" is not allowed to modify node \"n2\"")
            leases kube-node-lease/n1: Ok(())
            leases kube-node-lease/n2: Err("can only access node lease with the same name as the requesting node")
            leases default/anything: Ok(())
            endpointslices kube-system/kube-dns-n1: Ok(())
            endpointslices kube-system/kube-dns-n2: Err("node \"n1\" may only publish its own EndpointSlice \"kube-dns-n1\"")
            events default/e: Ok(())"#]]
        .assert_eq(&got.join("\n"));
    }
}
