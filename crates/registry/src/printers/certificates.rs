//! CertificateSigningRequests (clustertrustbundles use the default table).

use serde_json::Value;

use super::{
    arr_at, creation_age, docs, human_duration, name_cell, opt_int, s, str_at, Column, Printer,
    AGE, NAME,
};

pub static CERTIFICATE_SIGNING_REQUESTS: Printer = Printer {
    columns: &[
        NAME,
        AGE,
        Column::new("SignerName", "string", docs::CSR_SPEC_SIGNER_NAME),
        Column::new("Requestor", "string", docs::CSR_SPEC_REQUEST),
        Column::new(
            "RequestedDuration",
            "string",
            docs::CSR_SPEC_EXPIRATION_SECONDS,
        ),
        Column::new("Condition", "string", docs::CSR_STATUS_CONDITIONS),
    ],
    row: |obj, now| {
        let signer = match str_at(obj, &["spec", "signerName"]) {
            "" => "<none>",
            signer => signer,
        };
        let duration = opt_int(obj, &["spec", "expirationSeconds"])
            .map(human_duration)
            .unwrap_or_else(|| "<none>".to_string());
        vec![
            name_cell(obj),
            creation_age(obj, now),
            s(signer),
            s(str_at(obj, &["spec", "username"])),
            s(duration),
            s(csr_condition(obj)),
        ]
    },
};

/// Denied, else Approved, else Pending; then ",Failed" and ",Issued" as they apply.
fn csr_condition(obj: &Value) -> String {
    let conditions = arr_at(obj, &["status", "conditions"]);
    let has = |t: &str| conditions.iter().any(|c| str_at(c, &["type"]) == t);
    let mut status = if has("Denied") {
        "Denied"
    } else if has("Approved") {
        "Approved"
    } else {
        "Pending"
    }
    .to_string();
    if has("Failed") {
        status.push_str(",Failed");
    }
    if !str_at(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}
