//! Jobs and CronJobs.

use serde_json::Value;

use super::{
    age, bool_ptr, condition, container_cells, creation_age, docs, format_label_selector, get,
    human_duration, int, int_at, len_at, name_cell, opt_bool, opt_int, opt_str, parse_timestamp, s,
    str_at, Column, Printer, AGE, CONTAINERS, IMAGES, NAME,
};

pub static JOBS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Status", "string", "Status of the job."),
        Column::new("Completions", "string", docs::JOB_STATUS_SUCCEEDED),
        Column::new("Duration", "string", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::new("Selector", "string", docs::JOB_SPEC_SELECTOR).wide(),
    ],
    row: job_row,
};

fn job_row(job: &Value, now: i64) -> Vec<Value> {
    let (names, images) = container_cells(get(job, &["spec", "template", "spec"]));
    vec![
        name_cell(job),
        s(job_status(job)),
        s(job_completions(job)),
        s(job_duration(job, now)),
        creation_age(job, now),
        names,
        images,
        s(format_label_selector(get(job, &["spec", "selector"]))),
    ]
}

/// Whether the job's first condition of `type_` is True.
fn has_job_condition(job: &Value, type_: &str) -> bool {
    condition(job, &["status", "conditions"], type_)
        .is_some_and(|c| str_at(c, &["status"]) == "True")
}

fn job_status(job: &Value) -> String {
    let status = if has_job_condition(job, "Complete") {
        "Complete"
    } else if has_job_condition(job, "Failed") {
        "Failed"
    } else if get(job, &["metadata", "deletionTimestamp"]).is_some() {
        "Terminating"
    } else if has_job_condition(job, "Suspended") {
        "Suspended"
    } else if has_job_condition(job, "FailureTarget") {
        "FailureTarget"
    } else if has_job_condition(job, "SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    };
    status.to_string()
}

fn job_completions(job: &Value) -> String {
    let succeeded = int_at(job, &["status", "succeeded"]);
    if let Some(completions) = opt_int(job, &["spec", "completions"]) {
        return format!("{succeeded}/{completions}");
    }
    match int_at(job, &["spec", "parallelism"]) {
        p if p > 1 => format!("{succeeded}/1 of {p}"),
        _ => format!("{succeeded}/1"),
    }
}

/// Empty before the job starts, time since start while it runs, run time once complete.
fn job_duration(job: &Value, now: i64) -> String {
    let start = opt_str(job, &["status", "startTime"]);
    let Some(start) = start else {
        return String::new();
    };
    match opt_str(job, &["status", "completionTime"]) {
        None => age(Some(start), now),
        Some(end) => match (parse_timestamp(start), parse_timestamp(end)) {
            (Some(start), Some(end)) => human_duration(end - start),
            _ => "<unknown>".to_string(),
        },
    }
}

pub static CRON_JOBS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Schedule", "string", docs::CRONJOB_SPEC_SCHEDULE),
        Column::new("Timezone", "string", docs::CRONJOB_SPEC_TIME_ZONE),
        Column::new("Suspend", "boolean", docs::CRONJOB_SPEC_SUSPEND),
        Column::new("Active", "integer", docs::CRONJOB_STATUS_ACTIVE),
        Column::new(
            "Last Schedule",
            "string",
            docs::CRONJOB_STATUS_LAST_SCHEDULE,
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        Column::new("Selector", "string", docs::JOB_SPEC_SELECTOR).wide(),
    ],
    row: |obj, now| {
        let template = get(obj, &["spec", "jobTemplate", "spec"]);
        let (names, images) = container_cells(template.and_then(|t| get(t, &["template", "spec"])));
        let last_schedule = match opt_str(obj, &["status", "lastScheduleTime"]) {
            Some(t) => age(Some(t), now),
            None => "<none>".to_string(),
        };
        vec![
            name_cell(obj),
            s(str_at(obj, &["spec", "schedule"])),
            s(opt_str(obj, &["spec", "timeZone"]).unwrap_or("<none>")),
            // Upstream prints the boolean column as text.
            s(bool_ptr(opt_bool(obj, &["spec", "suspend"]))),
            int(len_at(obj, &["status", "active"])),
            s(last_schedule),
            creation_age(obj, now),
            names,
            images,
            s(format_label_selector(
                template.and_then(|t| get(t, &["selector"])),
            )),
        ]
    },
};
