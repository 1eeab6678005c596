//! CronJobs.

use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::{json, Value};

use super::cron;
use super::jobs::validate_job_spec;
use crate::strategies::common::nonnegative;
use crate::strategies::core::pod_spec::default_pod_spec;
use crate::strategies::json::{ensure_object, get, set_default, str_at};
use crate::Strategy;

pub struct CronJobStrategy;

const CONCURRENCY_POLICIES: &[&str] = &["Allow", "Forbid", "Replace"];

impl Strategy for CronJobStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = ensure_object(obj, "spec") {
            set_default(spec, "concurrencyPolicy", json!("Allow"));
            set_default(spec, "suspend", json!(false));
            set_default(spec, "successfulJobsHistoryLimit", json!(3));
            set_default(spec, "failedJobsHistoryLimit", json!(1));
        }
        if let Some(t) = obj.pointer_mut("/spec/jobTemplate/spec/template/spec") {
            default_pod_spec(t);
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({}));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        let name = str_at(obj, &["metadata", "name"]);
        // Job names get an 11-character suffix and must stay DNS-1035-label sized.
        if name.len() > 52 {
            errs.push(FieldError::invalid(
                "metadata.name",
                name,
                "must be no more than 52 characters",
            ));
        }
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let schedule = str_at(spec, &["schedule"]);
        if schedule.is_empty() {
            errs.push(FieldError::required(path.child("schedule"), ""));
        } else {
            if let Err(msg) = cron::parse(schedule) {
                errs.push(FieldError::invalid(path.child("schedule"), schedule, msg));
            }
            if schedule.contains("TZ") {
                errs.push(FieldError::invalid(
                    path.child("schedule"),
                    schedule,
                    "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                ));
            }
        }
        let policy = str_at(spec, &["concurrencyPolicy"]);
        if !policy.is_empty() && !CONCURRENCY_POLICIES.contains(&policy) {
            errs.push(FieldError::not_supported(
                path.child("concurrencyPolicy"),
                policy,
                CONCURRENCY_POLICIES,
            ));
        }
        for key in [
            "startingDeadlineSeconds",
            "successfulJobsHistoryLimit",
            "failedJobsHistoryLimit",
        ] {
            errs.extend(nonnegative(spec, key, &path));
        }
        let jt = path.child("jobTemplate");
        let job_spec = get(spec, &["jobTemplate", "spec"]).unwrap_or(&Value::Null);
        errs.extend(validate_job_spec(job_spec, &jt.child("spec")));
        if get(job_spec, &["manualSelector"]).and_then(Value::as_bool) == Some(true) {
            errs.push(FieldError::not_supported(
                jt.child("spec").child("manualSelector"),
                true,
                &["nil", "false"],
            ));
        }
        errs
    }

    fn has_status(&self) -> bool {
        true
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;

    fn cronjob(schedule: &str) -> Value {
        let mut cj = json!({"metadata": {"name": "hello"}, "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": {
            "restartPolicy": "OnFailure", "containers": [{"name": "c", "image": "busybox"}]}}}}}});
        CronJobStrategy.default(&mut cj);
        cj
    }

    #[test]
    fn defaults_and_schedule() {
        let cj = cronjob("*/1 * * * *");
        assert_eq!(cj["spec"]["concurrencyPolicy"], json!("Allow"));
        assert_eq!(cj["spec"]["successfulJobsHistoryLimit"], json!(3));
        assert_eq!(cj["spec"]["failedJobsHistoryLimit"], json!(1));
        assert_eq!(cj["spec"]["suspend"], json!(false));
        assert_eq!(messages(&CronJobStrategy.validate(&cj)), "");
        expect![[r#"spec.schedule: Invalid value: "every minute": expected exactly 5 fields, found 2: [every minute]"#]]
            .assert_eq(&messages(&CronJobStrategy.validate(&cronjob("every minute"))));
        let mut bad = cronjob("@daily");
        bad["spec"]["jobTemplate"]["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
        expect![[r#"spec.jobTemplate.spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never""#]]
            .assert_eq(&messages(&CronJobStrategy.validate(&bad)));
    }
}
