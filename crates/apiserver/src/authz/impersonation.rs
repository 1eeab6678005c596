//! Impersonation (`kubectl --as`, `--as-group`, `--as-uid`): the `Impersonate-*` headers
//! replace the caller by another user when the caller may `impersonate` each part (users,
//! serviceaccounts, groups, uids, `userextras/<key>`), as upstream's impersonation filter.

use std::collections::BTreeMap;

use http::HeaderMap;

use super::{authorize, forbidden, Attributes};
use crate::auth::UserInfo;
use crate::error::{ApiError, ApiResult};
use crate::Api;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA: &str = "impersonate-extra-";

fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

pub fn requested(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .any(|k| k.as_str().starts_with("impersonate-"))
}

fn check(api: &Api, user: &UserInfo, a: Attributes) -> ApiResult<()> {
    let d = authorize(api, user, &a);
    if d.allowed {
        Ok(())
    } else {
        Err(forbidden(user, &a, &d.reason))
    }
}

fn impersonate_attr(resource: &str, namespace: &str, name: &str) -> Attributes {
    Attributes {
        name: name.to_string(),
        ..Attributes::resource("impersonate", "", resource, namespace)
    }
}

/// The user the request acts as: `None` without impersonation headers.
pub fn impersonate(api: &Api, user: &UserInfo, headers: &HeaderMap) -> ApiResult<Option<UserInfo>> {
    if !requested(headers) {
        return Ok(None);
    }
    let name = values(headers, USER).into_iter().next().unwrap_or_default();
    if name.is_empty() {
        return Err(ApiError::bad_request(
            "requested impersonation of groups, uid or extra without a user",
        ));
    }
    let mut groups = values(headers, GROUP);
    let sa = name
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'));
    match sa {
        Some((ns, sa_name)) => {
            check(api, user, impersonate_attr("serviceaccounts", ns, sa_name))?;
            if groups.is_empty() {
                groups = vec![
                    "system:serviceaccounts".into(),
                    format!("system:serviceaccounts:{ns}"),
                ];
            }
        }
        None => check(api, user, impersonate_attr("users", "", &name))?,
    }
    for g in values(headers, GROUP) {
        check(api, user, impersonate_attr("groups", "", &g))?;
    }
    let uid = values(headers, UID).into_iter().next().unwrap_or_default();
    if !uid.is_empty() {
        let a = Attributes {
            api_group: "authentication.k8s.io".into(),
            ..impersonate_attr("uids", "", &uid)
        };
        check(api, user, a)?;
    }
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (k, _) in headers.iter() {
        let Some(key) = k.as_str().strip_prefix(EXTRA) else {
            continue;
        };
        if extra.contains_key(key) {
            continue;
        }
        let vals = values(headers, k.as_str());
        for v in &vals {
            let a = Attributes {
                api_group: "authentication.k8s.io".into(),
                subresource: key.to_string(),
                ..impersonate_attr("userextras", "", v)
            };
            check(api, user, a)?;
        }
        extra.insert(key.to_string(), vals);
    }
    let anonymous = name == "system:anonymous";
    let implied = if anonymous {
        "system:unauthenticated"
    } else {
        "system:authenticated"
    };
    if !groups.iter().any(|g| g == implied) {
        groups.push(implied.into());
    }
    Ok(Some(UserInfo {
        name,
        uid,
        groups,
        extra,
    }))
}
