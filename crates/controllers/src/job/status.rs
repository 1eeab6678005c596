//! Job conditions: what they say and how they change.

use std::collections::BTreeSet;

use jiff::Timestamp;
use k8s_openapi::api::batch::v1::{JobCondition, SuccessPolicy};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

pub const BACKOFF_LIMIT: (&str, &str) = (
    "BackoffLimitExceeded",
    "Job has reached the specified backoff limit",
);
pub const DEADLINE: (&str, &str) = (
    "DeadlineExceeded",
    "Job was active longer than specified deadline",
);
pub const MAX_FAILED_INDEXES: (&str, &str) = (
    "MaxFailedIndexesExceeded",
    "Job has exceeded the specified maximal number of failed indexes",
);
pub const FAILED_INDEXES: (&str, &str) = ("FailedIndexes", "Job has failed indexes");
pub const COMPLETIONS_REACHED: (&str, &str) = (
    "CompletionsReached",
    "Reached expected number of succeeded pods",
);
pub const POD_FAILURE_POLICY: &str = "PodFailurePolicy";
pub const SUCCESS_POLICY: &str = "SuccessPolicy";

/// The condition of `type_` when its status is True.
pub fn find<'a>(conds: &'a [JobCondition], type_: &str) -> Option<&'a JobCondition> {
    conds
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// Complete or Failed: the Job is over.
pub fn is_finished(conds: &[JobCondition]) -> bool {
    find(conds, "Complete").is_some() || find(conds, "Failed").is_some()
}

/// Sets a condition; returns whether anything changed. A condition already in that status
/// keeps its reason and times, as upstream's `ensureJobConditionStatus`.
pub fn set(
    conds: &mut Vec<JobCondition>,
    type_: &str,
    status: &str,
    (reason, message): (&str, &str),
    now: Timestamp,
) -> bool {
    let fresh = JobCondition {
        type_: type_.into(),
        status: status.into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    };
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status => false,
        Some(c) => {
            *c = fresh;
            true
        }
        None => {
            // Upstream leaves out a False condition that never was True.
            if status == "False" {
                return false;
            }
            conds.push(fresh);
            true
        }
    }
}

/// The first success-policy rule the succeeded indexes satisfy.
pub fn success_rule(
    policy: Option<&SuccessPolicy>,
    completed: &BTreeSet<i32>,
    completions: i32,
) -> Option<usize> {
    policy?.rules.iter().position(|rule| {
        match (rule.succeeded_indexes.as_deref(), rule.succeeded_count) {
            (Some(ix), count) => {
                let wanted = super::indexed::parse(ix, completions);
                let hits = wanted.intersection(completed).count();
                match count {
                    Some(n) => hits >= usize::try_from(n).unwrap_or(usize::MAX),
                    None => !wanted.is_empty() && hits == wanted.len(),
                }
            }
            (None, Some(n)) => completed.len() >= usize::try_from(n).unwrap_or(usize::MAX),
            (None, None) => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn success_rules() {
        let policy: SuccessPolicy = serde_json::from_value(json!({"rules": [
            {"succeededIndexes": "0,2-3", "succeededCount": 2},
            {"succeededIndexes": "5-6"},
            {"succeededCount": 4},
        ]}))
        .unwrap();
        let cases: &[(&[i32], Option<usize>)] = &[
            (&[], None),
            (&[0], None),
            (&[0, 3], Some(0)),
            (&[5], None),
            (&[5, 6], Some(1)),
            (&[1, 4, 5, 7], Some(2)),
        ];
        for (done, want) in cases {
            let set: BTreeSet<i32> = done.iter().copied().collect();
            assert_eq!(success_rule(Some(&policy), &set, 10), *want, "{done:?}");
        }
    }

    #[test]
    fn conditions_change_once() {
        let t = Timestamp::UNIX_EPOCH;
        let mut conds = Vec::new();
        assert!(!set(
            &mut conds,
            "Suspended",
            "False",
            ("JobResumed", "Job resumed"),
            t
        ));
        assert!(set(
            &mut conds,
            "Suspended",
            "True",
            ("JobSuspended", "Job suspended"),
            t
        ));
        assert!(!set(
            &mut conds,
            "Suspended",
            "True",
            ("JobSuspended", "Job suspended"),
            t
        ));
        assert!(set(
            &mut conds,
            "Suspended",
            "False",
            ("JobResumed", "Job resumed"),
            t
        ));
        assert_eq!(conds.len(), 1);
        assert_eq!(conds[0].reason.as_deref(), Some("JobResumed"));
    }
}
