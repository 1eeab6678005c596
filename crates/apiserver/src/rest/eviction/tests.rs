use super::*;

fn pdb(generation: i64, observed: i64, allowed: i64, current: i64, desired: i64) -> Value {
    json!({
        "metadata": {"name": "web", "generation": generation, "resourceVersion": "7"},
        "status": {
            "observedGeneration": observed,
            "disruptionsAllowed": allowed,
            "currentHealthy": current,
            "desiredHealthy": desired,
            "conditions": [{"type": "DisruptionAllowed", "status": if allowed > 0 { "True" } else { "False" },
                            "reason": if allowed > 0 { "SufficientPods" } else { "InsufficientPods" },
                            "message": "", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
        },
    })
}

fn outcome(r: ApiResult<Value>) -> String {
    match r {
        Ok(v) => format!(
            "ok allowed={} disrupted={} condition={}",
            v["status"]["disruptionsAllowed"],
            v["status"]["disruptedPods"],
            v["status"]["conditions"][0]["status"]
        ),
        Err(e) => format!(
            "{} {}: {}",
            e.code,
            e.message,
            e.details.map(|d| d.to_string()).unwrap_or_default()
        ),
    }
}

#[test]
fn check_and_decrement_table() {
    let now = "2026-01-01T00:01:00Z";
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "spends one",
            pdb(1, 1, 2, 3, 1),
            r#"ok allowed=1 disrupted={"p":"2026-01-01T00:01:00Z"} condition="True""#,
        ),
        (
            "spends the last one",
            pdb(1, 1, 1, 3, 2),
            r#"ok allowed=0 disrupted={"p":"2026-01-01T00:01:00Z"} condition="False""#,
        ),
        (
            "none left",
            pdb(1, 1, 0, 2, 2),
            r#"429 Cannot evict pod as it would violate the pod's disruption budget.: {"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web needs 2 healthy pods and has 2 currently"}]}"#,
        ),
        (
            "not yet observed",
            pdb(2, 1, 3, 3, 0),
            r#"429 Cannot evict pod as it would violate the pod's disruption budget.: {"causes":[{"reason":"DisruptionBudget","message":"The disruption budget web is still being processed by the server."}],"retryAfterSeconds":10}"#,
        ),
        (
            "negative",
            pdb(1, 1, -1, 3, 0),
            r#"403 poddisruptionbudgets.policy "web" is forbidden: pdb disruptions allowed is negative: "#,
        ),
    ];
    for (what, budget, want) in cases {
        assert_eq!(
            outcome(check_and_decrement(&budget, "p", now)),
            want,
            "{what}"
        );
    }
}

#[test]
fn denied_messages() {
    let mut failed = pdb(1, 1, 0, 3, 1);
    failed["status"]["conditions"][0]["reason"] = json!("SyncFailed");
    failed["status"]["conditions"][0]["message"] = json!("found no controllers");
    let cases = vec![
        (pdb(1, 1, 0, 1, 2), "The disruption budget web needs 2 healthy pods and has 1 currently"),
        (failed, "The disruption budget web does not allow evicting pods currently because it failed sync: found no controllers"),
        (pdb(1, 1, 0, 3, 1), "The disruption budget web does not allow evicting pods currently"),
    ];
    for (budget, want) in cases {
        assert_eq!(denied_message(&budget), want);
    }
}

#[test]
fn which_pods_bypass_budgets() {
    for (pod, want) in [
        (json!({"status": {"phase": "Running"}}), false),
        (json!({"status": {"phase": "Pending"}}), true),
        (json!({"status": {"phase": "Succeeded"}}), true),
        (json!({"status": {"phase": "Failed"}}), true),
        (
            json!({"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}}),
            true,
        ),
    ] {
        assert_eq!(can_ignore_budgets(&pod), want, "{pod}");
    }
}

#[test]
fn unready_pods_under_budget_policies() {
    let mut always = pdb(1, 1, 0, 0, 2);
    always["spec"] = json!({"unhealthyPodEvictionPolicy": "AlwaysAllow"});
    for (budget, want) in [
        (pdb(1, 1, 0, 2, 2), true),
        (pdb(1, 1, 0, 1, 2), false),
        (pdb(1, 1, 1, 3, 0), false),
        (always, true),
    ] {
        assert_eq!(unready_may_go(&budget), want, "{budget}");
    }
}
