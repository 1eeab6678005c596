//! A request's authorization attributes, as upstream's RequestInfo derives them from the
//! path, method and query (pure).

use std::collections::HashMap;

use http::Method;

use super::Attributes;
use crate::request::{self, Target};

/// `GET` of a collection is `list`, of a name `get`, either with `watch=true` (or the
/// legacy `/watch/` prefix) `watch`; `DELETE` of a collection is `deletecollection`.
pub fn resource_verb(method: &Method, named: bool, watch: bool) -> &'static str {
    match *method {
        Method::GET | Method::HEAD if watch => "watch",
        Method::GET | Method::HEAD if named => "get",
        Method::GET | Method::HEAD => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "",
    }
}

/// Non-resource paths take the HTTP method's name.
pub fn path_verb(method: &Method) -> String {
    match *method {
        Method::GET | Method::HEAD => "get".into(),
        ref m => m.as_str().to_ascii_lowercase(),
    }
}

pub fn from_request(method: &Method, path: &str, query: &HashMap<String, String>) -> Attributes {
    let Some(Target::Resource(r)) = request::parse_path(path) else {
        return Attributes {
            verb: path_verb(method),
            path: path.to_string(),
            ..Attributes::default()
        };
    };
    let watch = r.watch_prefix || query.get("watch").is_some_and(|v| v == "true" || v == "1");
    let verb = resource_verb(method, r.name.is_some(), watch);
    // `/api/v1/namespaces/{name}` is asked in that namespace, as upstream does.
    let namespace = match (&r.namespace, r.resource.as_str(), &r.name) {
        (Some(ns), _, _) => ns.clone(),
        (None, "namespaces", Some(name)) => name.clone(),
        _ => String::new(),
    };
    Attributes {
        verb: verb.to_string(),
        resource_request: true,
        api_group: r.group,
        api_version: r.version,
        resource: r.resource,
        subresource: r.subresource.unwrap_or_default(),
        namespace,
        name: r.name.unwrap_or_default(),
        path: path.to_string(),
        field_selector: query.get("fieldSelector").cloned().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    fn check(method: Method, path_and_query: &str, want: Expect) {
        let (path, q) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let query = request::parse_query(Some(q));
        let a = from_request(&method, path, &query);
        let got = if a.resource_request {
            format!(
                "{} group={:?} resource={:?} sub={:?} ns={:?} name={:?} fs={:?}",
                a.verb,
                a.api_group,
                a.resource,
                a.subresource,
                a.namespace,
                a.name,
                a.field_selector
            )
        } else {
            format!("{} path={}", a.verb, a.path)
        };
        want.assert_eq(&got);
    }

    #[test]
    fn attributes() {
        check(
            Method::GET,
            "/api/v1/namespaces/a/pods",
            expect![[r#"list group="" resource="pods" sub="" ns="a" name="" fs="""#]],
        );
        check(
            Method::GET,
            "/api/v1/namespaces/a/pods?watch=true&fieldSelector=spec.nodeName%3Dn1",
            expect![[
                r#"watch group="" resource="pods" sub="" ns="a" name="" fs="spec.nodeName=n1""#
            ]],
        );
        check(
            Method::GET,
            "/api/v1/watch/pods",
            expect![[r#"watch group="" resource="pods" sub="" ns="" name="" fs="""#]],
        );
        check(
            Method::GET,
            "/api/v1/namespaces/a/pods/x/log",
            expect![[r#"get group="" resource="pods" sub="log" ns="a" name="x" fs="""#]],
        );
        check(
            Method::POST,
            "/apis/apps/v1/namespaces/a/deployments",
            expect![[r#"create group="apps" resource="deployments" sub="" ns="a" name="" fs="""#]],
        );
        check(
            Method::PUT,
            "/apis/apps/v1/namespaces/a/deployments/d/scale",
            expect![[
                r#"update group="apps" resource="deployments" sub="scale" ns="a" name="d" fs="""#
            ]],
        );
        check(
            Method::DELETE,
            "/api/v1/namespaces/a/configmaps",
            expect![[
                r#"deletecollection group="" resource="configmaps" sub="" ns="a" name="" fs="""#
            ]],
        );
        check(
            Method::GET,
            "/api/v1/namespaces/a",
            expect![[r#"get group="" resource="namespaces" sub="" ns="a" name="a" fs="""#]],
        );
        check(
            Method::PUT,
            "/api/v1/namespaces/a/finalize",
            expect![[
                r#"update group="" resource="namespaces" sub="finalize" ns="a" name="a" fs="""#
            ]],
        );
        check(
            Method::GET,
            "/api/v1/nodes",
            expect![[r#"list group="" resource="nodes" sub="" ns="" name="" fs="""#]],
        );
        check(
            Method::GET,
            "/apis/apps/v1",
            expect!["get path=/apis/apps/v1"],
        );
        check(Method::GET, "/healthz", expect!["get path=/healthz"]);
        check(Method::POST, "/logs", expect!["post path=/logs"]);
    }
}
