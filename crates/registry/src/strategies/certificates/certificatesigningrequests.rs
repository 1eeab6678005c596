//! CertificateSigningRequests (v1): the request is a PEM CSR, a signer and usages are
//! named, and the spec never changes after create. The requestor fields are filled by the
//! apiserver from the caller; approval and status have their own subresources.

use apimachinery::field::{FieldError, FieldErrors, Path};
use base64::Engine;
use serde_json::Value;

use crate::Strategy;

pub struct CertificateSigningRequestStrategy;

/// The key usages upstream accepts.
pub const USAGES: &[&str] = &[
    "signing",
    "digital signature",
    "content commitment",
    "key encipherment",
    "key agreement",
    "data encipherment",
    "cert sign",
    "crl sign",
    "encipher only",
    "decipher only",
    "any",
    "server auth",
    "client auth",
    "code signing",
    "email protection",
    "s/mime",
    "ipsec end system",
    "ipsec tunnel",
    "ipsec user",
    "timestamping",
    "ocsp signing",
    "microsoft sgc",
    "netscape sgc",
];

fn validate_request(spec: &Value, path: &Path) -> Option<FieldError> {
    let field = path.child("request");
    let Some(raw) = spec
        .get("request")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        return Some(FieldError::required(field, ""));
    };
    let pem = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .unwrap_or_default();
    if !pem.contains("-----BEGIN CERTIFICATE REQUEST-----") {
        return Some(FieldError::invalid(
            field,
            "<request>",
            "PEM block type must be CERTIFICATE REQUEST",
        ));
    }
    None
}

fn validate_signer(spec: &Value, path: &Path) -> Option<FieldError> {
    let field = path.child("signerName");
    let signer = spec.get("signerName").and_then(Value::as_str).unwrap_or("");
    if signer.is_empty() {
        return Some(FieldError::required(field, ""));
    }
    if signer == "kubernetes.io/legacy-unknown" {
        return Some(FieldError::invalid(
            field,
            signer,
            "the legacy signerName is not allowed via this API version",
        ));
    }
    let ok = signer.split_once('/').is_some_and(|(domain, name)| {
        !domain.is_empty() && !name.is_empty() && domain.contains('.')
    });
    (!ok).then(|| {
        FieldError::invalid(
            field,
            signer,
            "must be a fully qualified domain and path of the form 'example.com/signer-name'",
        )
    })
}

impl Strategy for CertificateSigningRequestStrategy {
    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs: FieldErrors = Vec::new();
        errs.extend(validate_request(spec, &path));
        errs.extend(validate_signer(spec, &path));
        let usages: Vec<&str> = spec
            .get("usages")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if usages.is_empty() {
            errs.push(FieldError::required(
                path.child("usages"),
                "usages must be provided",
            ));
        }
        for (i, u) in usages.iter().enumerate() {
            if !USAGES.contains(u) {
                errs.push(FieldError::not_supported(
                    path.child("usages").index(i),
                    *u,
                    USAGES,
                ));
            } else if usages[..i].contains(u) {
                errs.push(FieldError::duplicate(path.child("usages").index(i), *u));
            }
        }
        if let Some(s) = spec.get("expirationSeconds").and_then(Value::as_i64) {
            if s < 600 {
                errs.push(FieldError::invalid(
                    path.child("expirationSeconds"),
                    s,
                    "may not specify a duration less than 600 seconds",
                ));
            }
        }
        errs
    }

    /// The spec is the request itself; it never changes.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        match old.get("spec") {
            Some(s) => new["spec"] = s.clone(),
            None => {
                if let Some(o) = new.as_object_mut() {
                    o.remove("spec");
                }
            }
        }
    }

    fn validate_update(&self, _new: &Value, _old: &Value) -> FieldErrors {
        Vec::new()
    }

    fn has_status(&self) -> bool {
        true
    }

    fn field_label(&self, obj: &Value, field: &str) -> Option<String> {
        (field == "spec.signerName").then(|| {
            obj.pointer("/spec/signerName")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use serde_json::json;

    #[test]
    fn validation_table() {
        let pem = base64::engine::general_purpose::STANDARD.encode(
            "-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
        );
        let cert =
            base64::engine::general_purpose::STANDARD.encode("-----BEGIN CERTIFICATE-----\n");
        let good = json!({"request": pem, "signerName": "kubernetes.io/kube-apiserver-client-kubelet", "usages": ["digital signature", "client auth"]});
        let with = |k: &str, v: Value| {
            let mut s = good.clone();
            s[k] = v;
            json!({"spec": s})
        };
        let cases = [
            (json!({"spec": good.clone()}), ""),
            (json!({"spec": {}}), "spec.request: Required value\nspec.signerName: Required value\nspec.usages: Required value: usages must be provided"),
            (with("request", json!(cert)), "spec.request: Invalid value: \"<request>\": PEM block type must be CERTIFICATE REQUEST"),
            (with("signerName", json!("signer")), "spec.signerName: Invalid value: \"signer\": must be a fully qualified domain and path of the form 'example.com/signer-name'"),
            (with("signerName", json!("kubernetes.io/legacy-unknown")), "spec.signerName: Invalid value: \"kubernetes.io/legacy-unknown\": the legacy signerName is not allowed via this API version"),
            (with("usages", json!(["client auth", "client auth"])), "spec.usages[1]: Duplicate value: \"client auth\""),
            (with("expirationSeconds", json!(60)), "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds"),
        ];
        for (obj, want) in cases {
            let got = messages(&CertificateSigningRequestStrategy.validate(&obj));
            assert_eq!(got, want, "{obj}");
        }
        let mut new = json!({"spec": {"request": "changed"}});
        CertificateSigningRequestStrategy.prepare_for_update(&mut new, &json!({"spec": good}));
        assert_eq!(
            new["spec"]["signerName"],
            "kubernetes.io/kube-apiserver-client-kubelet"
        );
    }
}
