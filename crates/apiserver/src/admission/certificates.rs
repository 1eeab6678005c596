//! A CertificateSigningRequest records who asked for it: upstream's strategy fills
//! `spec.username`, `uid`, `groups` and `extra` from the requesting user on create,
//! whatever the client sent, so approvers can trust them.

use serde_json::{json, Value};

use crate::auth::UserInfo;

pub fn record_requestor(csr: &mut Value, user: &UserInfo) {
    let Some(spec) = csr.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    spec.insert("username".into(), json!(user.name));
    for (field, value) in [
        ("uid", json!(user.uid)),
        ("groups", json!(user.groups)),
        ("extra", json!(user.extra)),
    ] {
        let empty = match &value {
            Value::String(s) => s.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::Object(o) => o.is_empty(),
            _ => true,
        };
        if empty {
            spec.remove(field);
        } else {
            spec.insert(field.into(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requestor_overrides_the_client() {
        let user = UserInfo {
            name: "system:bootstrap:abcdef".into(),
            groups: vec!["system:bootstrappers".into(), "system:authenticated".into()],
            ..UserInfo::default()
        };
        let mut csr = json!({"spec": {"username": "system:admin", "uid": "forged", "groups": ["system:masters"], "request": "x"}});
        record_requestor(&mut csr, &user);
        assert_eq!(
            csr["spec"],
            json!({"username": "system:bootstrap:abcdef", "groups": ["system:bootstrappers", "system:authenticated"], "request": "x"})
        );
    }
}
