//! Ephemeral containers (`kubectl debug`): added to a running pod through the API's
//! `pods/ephemeralcontainers`, started once in its sandbox, never restarted. One with a
//! `targetContainerName` shares that container's process namespace.

use k8s_openapi::api::core::v1::{Container, Pod};

/// The pod's ephemeral containers as plain containers, each with its target's name.
pub fn containers(pod: &Pod) -> Vec<(Container, Option<String>)> {
    pod.spec
        .iter()
        .flat_map(|s| s.ephemeral_containers.iter().flatten())
        .filter_map(|e| {
            // The same fields as a container but the target; the API has rejected the
            // ones an ephemeral container may not have.
            let c: Container = serde_json::to_value(e)
                .and_then(serde_json::from_value)
                .ok()?;
            let target = e.target_container_name.clone().filter(|t| !t.is_empty());
            Some((c, target))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_containers() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {
                "containers": [{"name": "app", "image": "app:1"}],
                "ephemeralContainers": [
                    {"name": "debugger", "image": "busybox:1", "targetContainerName": "app",
                     "stdin": true, "tty": true, "command": ["sh"]},
                    {"name": "plain", "image": "busybox:1"},
                ],
            },
        }))
        .unwrap();
        let got: Vec<String> = containers(&pod)
            .iter()
            .map(|(c, t)| {
                format!(
                    "{} {:?} stdin={:?} tty={:?} {:?} target={t:?}",
                    c.name, c.image, c.stdin, c.tty, c.command
                )
            })
            .collect();
        expect_test::expect![[r#"
            [
                "debugger Some(\"busybox:1\") stdin=Some(true) tty=Some(true) Some([\"sh\"]) target=Some(\"app\")",
                "plain Some(\"busybox:1\") stdin=None tty=None None target=None",
            ]
        "#]].assert_debug_eq(&got);
    }
}
