//! A container's volumeMounts as CRI mounts: the volume's host path (and subPath), read-only
//! when asked or when the volume kind is always read-only, and the propagation mode.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Container;

use crate::cri::v1 as cri;
use crate::pods::env;

/// Where a pod's volume is on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostVolume {
    pub path: PathBuf,
    /// configMap, secret, downwardAPI and projected volumes are always mounted read-only.
    pub read_only: bool,
}

pub type Mounted = BTreeMap<String, HostVolume>;

fn propagation(mode: Option<&str>) -> Result<i32, String> {
    use cri::MountPropagation as P;
    Ok(match mode {
        None | Some("None") => P::PropagationPrivate,
        Some("HostToContainer") => P::PropagationHostToContainer,
        Some("Bidirectional") => P::PropagationBidirectional,
        Some(other) => return Err(format!("invalid MountPropagation mode: {other:?}")),
    } as i32)
}

/// `volume/sub` made (as a directory with the volume's mode) if missing, refused if it
/// leaves the volume through a link.
fn sub_path(volume: &Path, sub: &str, mount: &str, container: &str) -> Result<PathBuf, String> {
    if Path::new(sub).is_absolute() {
        return Err(format!(
            "error SubPath `{sub}` must not be an absolute path"
        ));
    }
    if Path::new(sub)
        .components()
        .any(|c| c == std::path::Component::ParentDir)
    {
        return Err(format!(
            "unable to provision SubPath `{sub}`: must not contain '..'"
        ));
    }
    let path = volume.join(sub);
    let prepare = || {
        format!("failed to prepare subPath for volumeMount {mount:?} of container {container:?}")
    };
    if std::fs::symlink_metadata(&path).is_err() {
        let mode = std::fs::metadata(volume)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o755);
        std::fs::create_dir_all(&path).map_err(|_| {
            format!("failed to create subPath directory for volumeMount {mount:?} of container {container:?}")
        })?;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode));
    }
    let real = path.canonicalize().map_err(|_| prepare())?;
    let base = volume.canonicalize().map_err(|_| prepare())?;
    if !real.starts_with(&base) {
        return Err(prepare());
    }
    Ok(real)
}

/// The container's mounts; `env` expands subPathExpr.
pub fn for_container(
    c: &Container,
    volumes: &Mounted,
    env_vars: &[(String, String)],
) -> Result<Vec<cri::Mount>, String> {
    let mut out = Vec::new();
    for m in c.volume_mounts.iter().flatten() {
        let Some(v) = volumes.get(&m.name) else {
            return Err(format!(
                "cannot find volume {:?} to mount into container {:?}",
                m.name, c.name
            ));
        };
        let sub = match (&m.sub_path_expr, &m.sub_path) {
            (Some(expr), _) if !expr.is_empty() => {
                env::expand_all(std::slice::from_ref(expr), env_vars).remove(0)
            }
            (_, Some(s)) => s.clone(),
            _ => String::new(),
        };
        let host_path = if sub.is_empty() {
            v.path.clone()
        } else {
            sub_path(&v.path, &sub, &m.name, &c.name)?
        };
        out.push(cri::Mount {
            container_path: m.mount_path.clone(),
            host_path: host_path.display().to_string(),
            readonly: m.read_only == Some(true) || v.read_only,
            propagation: propagation(m.mount_propagation.as_deref())?,
            ..Default::default()
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn mounts() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("data/existing")).unwrap();
        std::fs::create_dir_all(root.join("cfg")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("data/escape")).unwrap();
        let volumes: Mounted = [
            (
                "data".to_string(),
                HostVolume {
                    path: root.join("data"),
                    read_only: false,
                },
            ),
            (
                "cfg".to_string(),
                HostVolume {
                    path: root.join("cfg"),
                    read_only: true,
                },
            ),
        ]
        .into();
        let env = vec![("POD".to_string(), "p-1".to_string())];
        let r = root.display().to_string();
        let cases = [
            (
                json!({"name": "data", "mountPath": "/data"}),
                format!("/data<-{r}/data rw private"),
            ),
            (
                json!({"name": "data", "mountPath": "/data", "readOnly": true, "mountPropagation": "HostToContainer"}),
                format!("/data<-{r}/data ro host-to-container"),
            ),
            (
                json!({"name": "cfg", "mountPath": "/etc/cfg"}),
                format!("/etc/cfg<-{r}/cfg ro private"),
            ),
            (
                json!({"name": "data", "mountPath": "/x", "subPath": "existing"}),
                format!("/x<-{r}/data/existing rw private"),
            ),
            (
                json!({"name": "data", "mountPath": "/x", "subPath": "new/dir"}),
                format!("/x<-{r}/data/new/dir rw private"),
            ),
            (
                json!({"name": "data", "mountPath": "/x", "subPathExpr": "logs/$(POD)"}),
                format!("/x<-{r}/data/logs/p-1 rw private"),
            ),
            (
                json!({"name": "data", "mountPath": "/x", "subPath": "/abs"}),
                "error SubPath `/abs` must not be an absolute path".into(),
            ),
            (
                json!({"name": "data", "mountPath": "/x", "subPath": "a/../.."}),
                "unable to provision SubPath `a/../..`: must not contain '..'".into(),
            ),
            (
                json!({"name": "data", "mountPath": "/x", "subPath": "escape"}),
                "failed to prepare subPath for volumeMount \"data\" of container \"c\"".into(),
            ),
            (
                json!({"name": "nope", "mountPath": "/x"}),
                "cannot find volume \"nope\" to mount into container \"c\"".into(),
            ),
            (
                json!({"name": "data", "mountPath": "/x", "mountPropagation": "Sideways"}),
                "invalid MountPropagation mode: \"Sideways\"".into(),
            ),
        ];
        for (mount, want) in cases {
            let c: Container =
                serde_json::from_value(json!({"name": "c", "volumeMounts": [mount]})).unwrap();
            let got = match for_container(&c, &volumes, &env) {
                Ok(m) => m
                    .iter()
                    .map(|m| {
                        let prop = match m.propagation {
                            0 => "private",
                            1 => "host-to-container",
                            _ => "bidirectional",
                        };
                        let ro = if m.readonly { "ro" } else { "rw" };
                        format!("{}<-{} {ro} {prop}", m.container_path, m.host_path)
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
                Err(e) => e,
            };
            assert_eq!(got, want, "{mount}");
        }
    }
}
