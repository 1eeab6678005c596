//! The files of configMap, secret, downwardAPI and projected volumes: which keys become
//! which files with which modes (upstream's MakePayload rules). Pure.

use k8s_openapi::api::core::v1::{
    ConfigMap, Container, DownwardAPIVolumeFile, KeyToPath, Pod, Secret,
};

use super::atomic::{FileData, Payload};
use crate::pods::downward;

/// upstream's default file mode (0644) for all four kinds.
pub const DEFAULT_MODE: i32 = 0o644;

fn mode(m: Option<i32>, default: Option<i32>) -> u32 {
    (m.or(default).unwrap_or(DEFAULT_MODE) & 0o777) as u32
}

fn project(
    entries: Vec<(String, Vec<u8>)>,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
    missing: &dyn Fn(&str) -> String,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    match items.filter(|i| !i.is_empty()) {
        None => {
            for (k, data) in entries {
                let mode = mode(None, default_mode);
                out.insert(k, FileData { data, mode });
            }
        }
        Some(items) => {
            for item in items {
                let Some((_, data)) = entries.iter().find(|(k, _)| *k == item.key) else {
                    if optional {
                        continue;
                    }
                    return Err(missing(&item.key));
                };
                let mode = mode(item.mode, default_mode);
                out.insert(
                    item.path.clone(),
                    FileData {
                        data: data.clone(),
                        mode,
                    },
                );
            }
        }
    }
    Ok(out)
}

/// A ConfigMap's files: every key (data and binaryData) or the listed items.
pub fn config_map(
    cm: &ConfigMap,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, String> {
    let mut entries: Vec<(String, Vec<u8>)> = cm
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.into_bytes()))
        .collect();
    entries.extend(
        cm.binary_data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.0)),
    );
    project(entries, items, default_mode, optional, &|k| {
        format!("configmap references non-existent config key: {k}")
    })
}

/// A Secret's files.
pub fn secret(
    s: &Secret,
    items: Option<&[KeyToPath]>,
    default_mode: Option<i32>,
    optional: bool,
) -> Result<Payload, String> {
    let entries = s
        .data
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    project(entries, items, default_mode, optional, &|k| {
        format!("references non-existent secret key: {k}")
    })
}

/// A downwardAPI volume's files: each item's field or resource value.
pub fn downward_api(
    pod: &Pod,
    items: &[DownwardAPIVolumeFile],
    default_mode: Option<i32>,
    facts: &downward::Facts,
) -> Result<Payload, String> {
    let mut out = Payload::new();
    let none = Container::default();
    for item in items {
        let value = if let Some(f) = &item.field_ref {
            downward::field(pod, &f.field_path, facts)?
        } else if let Some(r) = &item.resource_field_ref {
            downward::resource(
                pod,
                &none,
                r.container_name.as_deref(),
                &r.resource,
                r.divisor.as_ref(),
                facts,
            )?
        } else {
            continue;
        };
        out.insert(
            item.path.clone(),
            FileData {
                data: value.into_bytes(),
                mode: mode(item.mode, default_mode),
            },
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn show(p: &Result<Payload, String>) -> String {
        match p {
            Ok(p) => p
                .iter()
                .map(|(k, f)| format!("{k}:{:o}:{}", f.mode, String::from_utf8_lossy(&f.data)))
                .collect::<Vec<_>>()
                .join(" "),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn config_map_files() {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": "cfg"},
            "data": {"color": "blue", "size": "L"},
            "binaryData": {"bin": "AAE="},
        }))
        .unwrap();
        let cases = [
            (
                json!(null),
                None,
                false,
                "bin:644:\u{0}\u{1} color:644:blue size:644:L",
            ),
            (
                json!(null),
                Some(0o400),
                false,
                "bin:400:\u{0}\u{1} color:400:blue size:400:L",
            ),
            (
                json!([{"key": "color", "path": "dir/c.txt"}]),
                None,
                false,
                "dir/c.txt:644:blue",
            ),
            (
                json!([{"key": "color", "path": "c", "mode": 0o600}, {"key": "size", "path": "s"}]),
                Some(0o440),
                false,
                "c:600:blue s:440:L",
            ),
            (
                json!([{"key": "nokey", "path": "x"}]),
                None,
                false,
                "error: configmap references non-existent config key: nokey",
            ),
            (
                json!([{"key": "nokey", "path": "x"}, {"key": "size", "path": "s"}]),
                None,
                true,
                "s:644:L",
            ),
        ];
        for (items, default_mode, optional, want) in cases {
            let items: Option<Vec<KeyToPath>> = serde_json::from_value(items.clone()).unwrap();
            let got = config_map(&cm, items.as_deref(), default_mode, optional);
            assert_eq!(show(&got), want, "{items:?} {default_mode:?}");
        }
    }

    #[test]
    fn secret_files() {
        let s: Secret = serde_json::from_value(json!({
            "metadata": {"name": "s"}, "data": {"password": "aHVudGVyMg=="},
        }))
        .unwrap();
        let items: Vec<KeyToPath> =
            serde_json::from_value(json!([{"key": "user", "path": "u"}])).unwrap();
        assert_eq!(show(&secret(&s, None, None, false)), "password:644:hunter2");
        assert_eq!(
            show(&secret(&s, Some(&items), None, false)),
            "error: references non-existent secret key: user"
        );
    }

    #[test]
    fn downward_files() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"a": "1", "b": "2"}},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "64Mi"}}}]},
        }))
        .unwrap();
        let items: Vec<DownwardAPIVolumeFile> = serde_json::from_value(json!([
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}, "mode": 0o400},
            {"path": "mem", "resourceFieldRef": {"containerName": "c", "resource": "limits.memory", "divisor": "1Mi"}},
        ]))
        .unwrap();
        let got = downward_api(&pod, &items, None, &downward::Facts::default());
        assert_eq!(
            show(&got),
            "labels:644:a=\"1\"\nb=\"2\" mem:644:64 name:400:p"
        );
    }
}
