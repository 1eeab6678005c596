//! RBAC bindings (roles and clusterroles use the default NAME / CREATED AT table upstream).

use serde_json::Value;

use super::{arr_at, creation_age, docs, name_cell, s, str_at, Column, Printer, AGE, NAME};

pub static ROLE_BINDINGS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Role", "string", docs::ROLE_BINDING_ROLE_REF),
        AGE,
        Column::new("Users", "string", "Users in the roleBinding").wide(),
        Column::new("Groups", "string", "Groups in the roleBinding").wide(),
        Column::new(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the roleBinding",
        )
        .wide(),
    ],
    row: binding_row,
};

pub static CLUSTER_ROLE_BINDINGS: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Role", "string", docs::CLUSTER_ROLE_BINDING_ROLE_REF),
        AGE,
        Column::new("Users", "string", "Users in the clusterRoleBinding").wide(),
        Column::new("Groups", "string", "Groups in the clusterRoleBinding").wide(),
        Column::new(
            "ServiceAccounts",
            "string",
            "ServiceAccounts in the clusterRoleBinding",
        )
        .wide(),
    ],
    row: binding_row,
};

fn binding_row(obj: &Value, now: i64) -> Vec<Value> {
    let role = format!(
        "{}/{}",
        str_at(obj, &["roleRef", "kind"]),
        str_at(obj, &["roleRef", "name"])
    );
    let (mut users, mut groups, mut service_accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr_at(obj, &["subjects"]) {
        let name = str_at(subject, &["name"]);
        match str_at(subject, &["kind"]) {
            "User" => users.push(name.to_string()),
            "Group" => groups.push(name.to_string()),
            "ServiceAccount" => {
                service_accounts.push(format!("{}/{name}", str_at(subject, &["namespace"])))
            }
            _ => {}
        }
    }
    vec![
        name_cell(obj),
        s(role),
        creation_age(obj, now),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(service_accounts.join(", ")),
    ]
}
