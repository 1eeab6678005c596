//! Ingresses (networking.k8s.io/v1).

use apimachinery::field::{FieldError, FieldErrors, Path};
use apimachinery::validation::{is_dns1123_subdomain, is_valid_port_name, is_valid_port_num};
use serde_json::{json, Value};

use crate::strategies::json::{array_at, get, str_at};
use crate::Strategy;

pub struct IngressStrategy;

const PATH_TYPES: &[&str] = &["Exact", "ImplementationSpecific", "Prefix"];

impl Strategy for IngressStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        if let Some(m) = obj.as_object_mut() {
            m.insert("status".into(), json!({"loadBalancer": {}}));
        }
    }

    fn validate(&self, obj: &Value) -> FieldErrors {
        let spec = obj.get("spec").unwrap_or(&Value::Null);
        let path = Path::new("spec");
        let mut errs = Vec::new();
        let rules = array_at(spec, &["rules"]);
        match get(spec, &["defaultBackend"]) {
            Some(b) => validate_backend(b, &path.child("defaultBackend"), &mut errs),
            None if rules.is_empty() => errs.push(FieldError::invalid(
                path.child("rules"),
                Value::Array(Vec::new()),
                "either `defaultBackend` or `rules` must be specified",
            )),
            None => {}
        }
        for (i, rule) in rules.iter().enumerate() {
            let p = path.child("rules").index(i);
            let host = str_at(rule, &["host"]);
            if !host.is_empty() {
                let (checked, wildcard_ok) = match host.strip_prefix("*.") {
                    Some(rest) => (rest, true),
                    None => (host, !host.contains('*')),
                };
                if !wildcard_ok {
                    errs.push(FieldError::invalid(p.child("host"), host, "a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"));
                } else {
                    for msg in is_dns1123_subdomain(checked) {
                        errs.push(FieldError::invalid(p.child("host"), host, msg));
                    }
                }
            }
            let Some(http) = get(rule, &["http"]) else {
                continue;
            };
            let hp = p.child("http");
            let paths = array_at(http, &["paths"]);
            if paths.is_empty() {
                errs.push(FieldError::required(hp.child("paths"), ""));
            }
            for (j, item) in paths.iter().enumerate() {
                let pp = hp.child("paths").index(j);
                let path_type = str_at(item, &["pathType"]);
                let value = str_at(item, &["path"]);
                match path_type {
                    "" => errs.push(FieldError::required(
                        pp.child("pathType"),
                        "pathType must be specified",
                    )),
                    "Exact" | "Prefix" => {
                        if !value.starts_with('/') {
                            errs.push(FieldError::invalid(
                                pp.child("path"),
                                value,
                                "must be an absolute path",
                            ));
                        }
                    }
                    "ImplementationSpecific" => {
                        if !value.is_empty() && !value.starts_with('/') {
                            errs.push(FieldError::invalid(
                                pp.child("path"),
                                value,
                                "must be an absolute path",
                            ));
                        }
                    }
                    other => errs.push(FieldError::not_supported(
                        pp.child("pathType"),
                        other,
                        PATH_TYPES,
                    )),
                }
                match get(item, &["backend"]) {
                    Some(b) => validate_backend(b, &pp.child("backend"), &mut errs),
                    None => errs.push(FieldError::required(pp.child("backend"), "")),
                }
            }
        }
        let class = str_at(spec, &["ingressClassName"]);
        if !class.is_empty() {
            for msg in is_dns1123_subdomain(class) {
                errs.push(FieldError::invalid(
                    path.child("ingressClassName"),
                    class,
                    msg,
                ));
            }
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

fn validate_backend(b: &Value, path: &Path, errs: &mut FieldErrors) {
    let service = get(b, &["service"]);
    match (service, get(b, &["resource"])) {
        (Some(_), Some(_)) => {
            errs.push(FieldError::invalid(
                path,
                "",
                "cannot set both resource and service backends",
            ));
        }
        (None, None) => errs.push(FieldError::invalid(
            path,
            "",
            "resource or service backend is required",
        )),
        (None, Some(_)) => {}
        (Some(svc), None) => {
            let name = str_at(svc, &["name"]);
            if name.is_empty() {
                errs.push(FieldError::required(
                    path.child("service").child("name"),
                    "",
                ));
            }
            let port_name = str_at(svc, &["port", "name"]);
            let port_number = get(svc, &["port", "number"])
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let pp = path.child("service").child("port");
            match (port_name.is_empty(), port_number == 0) {
                (false, false) => errs.push(FieldError::invalid(
                    path,
                    "",
                    "cannot set both port name & port number",
                )),
                (false, true) => {
                    for msg in is_valid_port_name(port_name) {
                        errs.push(FieldError::invalid(pp.child("name"), port_name, msg));
                    }
                }
                (true, false) => {
                    for msg in is_valid_port_num(port_number) {
                        errs.push(FieldError::invalid(pp.child("number"), port_number, msg));
                    }
                }
                (true, true) => {
                    errs.push(FieldError::required(pp, "port name or number is required"))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strategies::testing::messages;
    use expect_test::expect;

    #[test]
    fn rules() {
        let ok = json!({"spec": {"rules": [{"host": "*.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}});
        assert_eq!(messages(&IngressStrategy.validate(&ok)), "");
        let bad = json!({"spec": {"rules": [{"host": "Bad_Host", "http": {"paths": [
            {"path": "api", "backend": {"service": {"name": "web", "port": {}}}},
            {"path": "api", "pathType": "Exact", "backend": {}}]}}]}});
        expect![[r#"
            spec.rules[0].host: Invalid value: "Bad_Host": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')
            spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified
            spec.rules[0].http.paths[0].backend.service.port: Required value: port name or number is required
            spec.rules[0].http.paths[1].path: Invalid value: "api": must be an absolute path
            spec.rules[0].http.paths[1].backend: Invalid value: "": resource or service backend is required"#]]
        .assert_eq(&messages(&IngressStrategy.validate(&bad)));
        expect![[
            r#"spec.rules: Invalid value: []: either `defaultBackend` or `rules` must be specified"#
        ]]
        .assert_eq(&messages(&IngressStrategy.validate(&json!({"spec": {}}))));
    }
}
