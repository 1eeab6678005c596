//! APIServices (kube-aggregator's own table convertor).

use super::{condition, creation_age, get, name_cell, s, str_at, Column, Printer, AGE, NAME};

pub static API_SERVICES: Printer = Printer {
    columns: &[
        NAME,
        Column::new(
            "Service",
            "string",
            "The reference to the service that hosts this API endpoint.",
        ),
        Column::new("Available", "string", "Whether this service is available."),
        AGE,
    ],
    row: |obj, now| {
        let service = match get(obj, &["spec", "service"]) {
            Some(svc) => format!("{}/{}", str_at(svc, &["namespace"]), str_at(svc, &["name"])),
            None => "Local".to_string(),
        };
        let available = match condition(obj, &["status", "conditions"], "Available") {
            None => "Unknown".to_string(),
            Some(c) => {
                let status = str_at(c, &["status"]);
                match str_at(c, &["reason"]) {
                    _ if status == "True" => status.to_string(),
                    "" => status.to_string(),
                    reason => format!("{status} ({reason})"),
                }
            }
        };
        vec![
            name_cell(obj),
            s(service),
            s(available),
            creation_age(obj, now),
        ]
    },
};
