//! `events.k8s.io/v1` Events (stored with core events; this is their v1 JSON form).

use apimachinery::field::{FieldError, FieldErrors};
use serde_json::Value;

use crate::strategies::json::{get, str_at};
use crate::Strategy;

pub struct EventStrategy;

const NOTE_MAX: usize = 1024;

impl Strategy for EventStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        let mut errs = Vec::new();
        if get(obj, &["eventTime"]).is_none() {
            errs.push(FieldError::required("eventTime", ""));
        }
        for key in [
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
        ] {
            if str_at(obj, &[key]).is_empty() {
                errs.push(FieldError::required(key, ""));
            }
        }
        let ty = str_at(obj, &["type"]);
        if ty != "Normal" && ty != "Warning" {
            errs.push(FieldError::invalid(
                "type",
                "",
                format!("has invalid value: {ty}"),
            ));
        }
        let note = str_at(obj, &["note"]);
        if note.len() > NOTE_MAX {
            errs.push(FieldError::too_long("note", "", NOTE_MAX));
        }
        errs
    }

    fn validate_update(&self, new: &Value, _old: &Value) -> FieldErrors {
        self.validate(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;
    use serde_json::json;

    #[test]
    fn required_fields() {
        let ok = json!({"eventTime": "2026-01-01T00:00:00.000000Z", "reportingController": "c", "reportingInstance": "i",
            "action": "Scheduling", "reason": "Scheduled", "type": "Normal"});
        assert_eq!(messages(&EventStrategy.validate(&ok)), "");
        expect![[r#"
            eventTime: Required value
            reportingController: Required value
            reportingInstance: Required value
            action: Required value
            reason: Required value
            type: Invalid value: "": has invalid value: Odd"#]]
        .assert_eq(&messages(&EventStrategy.validate(&json!({"type": "Odd"}))));
    }
}
