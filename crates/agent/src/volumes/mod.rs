//! A pod's volumes on this machine, under `<data>/kubelet/pods/<uid>/volumes/kubernetes.io~<kind>/<name>`
//! as upstream lays them out: emptyDir (a directory, or a tmpfs for medium Memory),
//! hostPath (type-checked), configMap, secret, downwardAPI and projected (files written
//! atomically and refreshed while the pod runs; secrets and projected volumes on tmpfs),
//! and persistentVolumeClaim (the bound PV's hostPath or local path). [`setup`] runs before
//! the sandbox; [`host_paths`] tells each container start where the volumes are;
//! [`cleanup`] unmounts and removes everything once the pod is gone.

pub mod atomic;
pub mod hostpath;
pub mod mounts;
pub mod projection;
pub mod sys;
pub mod token;

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::{
    ConfigMap, PersistentVolume, PersistentVolumeClaim, Pod, Secret, Volume,
};
use kube::Api;

use crate::pods::{downward, env};
use atomic::Payload;
pub use mounts::{HostVolume, Mounted};

/// How often a running pod's configMap, secret, downwardAPI and projected volumes are
/// brought up to date.
pub const REFRESH: Duration = Duration::from_secs(10);

/// What volume setup needs.
pub struct Env<'a> {
    pub client: &'a kube::Client,
    /// `<data>/kubelet/pods`.
    pub root: &'a Path,
    pub facts: &'a downward::Facts,
}

/// What a pod's worker keeps between syncs.
#[derive(Default)]
pub struct State {
    tokens: HashMap<String, token::Token>,
    last_refresh: Option<Instant>,
    last_event: Option<(String, Instant)>,
}

/// The same FailedMount message is recorded again only after this long (upstream's event
/// recorder folds repeats into one event's count instead).
const EVENT_REPEAT: Duration = Duration::from_secs(60);

impl State {
    pub fn refresh_due(&self) -> bool {
        self.last_refresh.is_none_or(|t| t.elapsed() >= REFRESH)
    }

    /// Whether a FailedMount with this message should be recorded now.
    pub fn should_report(&mut self, message: &str) -> bool {
        let repeat = self
            .last_event
            .as_ref()
            .is_some_and(|(m, at)| m == message && at.elapsed() < EVENT_REPEAT);
        if !repeat {
            self.last_event = Some((message.to_string(), Instant::now()));
        }
        !repeat
    }
}

/// A volume that could not be set up: upstream's FailedMount message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub volume: String,
    pub message: String,
}

pub fn pod_dir(root: &Path, uid: &str) -> PathBuf {
    root.join(uid)
}

fn kind_dir(v: &Volume) -> Option<&'static str> {
    Some(if v.empty_dir.is_some() {
        "empty-dir"
    } else if v.config_map.is_some() {
        "configmap"
    } else if v.secret.is_some() {
        "secret"
    } else if v.downward_api.is_some() {
        "downward-api"
    } else if v.projected.is_some() {
        "projected"
    } else {
        return None;
    })
}

fn volume_dir(root: &Path, uid: &str, kind: &str, name: &str) -> PathBuf {
    pod_dir(root, uid)
        .join("volumes")
        .join(format!("kubernetes.io~{kind}"))
        .join(name)
}

fn setup_failed(v: &Volume, message: String) -> Failure {
    Failure {
        volume: v.name.clone(),
        message: format!(
            "MountVolume.SetUp failed for volume {:?} : {message}",
            v.name
        ),
    }
}

fn fs_group(pod: &Pod) -> Option<i64> {
    pod.spec.as_ref()?.security_context.as_ref()?.fs_group
}

/// The bound PV of a claim and its host path (hostPath or local), with upstream's errors.
async fn claim_path(
    client: &kube::Client,
    ns: &str,
    claim: &str,
) -> Result<(PathBuf, String), String> {
    let pvcs: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), ns);
    let pvc = env::get_opt(&pvcs, "persistentvolumeclaim", claim)
        .await?
        .ok_or_else(|| {
            format!(
                "failed to fetch PVC from API server: {}",
                env::not_found("persistentvolumeclaim", claim)
            )
        })?;
    let phase = pvc
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_default();
    let volume_name = pvc
        .spec
        .as_ref()
        .and_then(|s| s.volume_name.clone())
        .unwrap_or_default();
    if phase != "Bound" || volume_name.is_empty() {
        return Err(format!(
            "PVC {ns}/{claim} has non-bound phase ({phase:?}) or empty pvc.Spec.VolumeName ({volume_name:?})"
        ));
    }
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv = env::get_opt(&pvs, "persistentvolume", &volume_name)
        .await?
        .ok_or_else(|| {
            format!(
                "failed to fetch PV {volume_name} from API server: {}",
                env::not_found("persistentvolume", &volume_name)
            )
        })?;
    let spec = pv.spec.unwrap_or_default();
    let claim_ref = spec.claim_ref.clone().unwrap_or_default();
    if claim_ref.uid.is_some() && claim_ref.uid != pvc.metadata.uid {
        return Err(format!(
            "found PV object {volume_name} but its pv.Spec.ClaimRef.UID ({}) does not point to claim.UID ({})",
            claim_ref.uid.unwrap_or_default(),
            pvc.metadata.uid.unwrap_or_default()
        ));
    }
    if let Some(h) = spec.host_path {
        return Ok((PathBuf::from(h.path), h.type_.unwrap_or_default()));
    }
    if let Some(l) = spec.local {
        return Ok((PathBuf::from(l.path), "Directory".into()));
    }
    Err(format!(
        "persistent volume {volume_name} has a source this node cannot mount (only hostPath and local)"
    ))
}

fn claim_failed(v: &Volume, ns: &str, claim: &str, e: &str) -> Failure {
    Failure {
        volume: v.name.clone(),
        message: format!(
            "Unable to attach or mount volumes: unmounted volumes=[{n}], unattached volumes=[{n}], failed to process volumes=[{n}]: error processing PVC {ns}/{claim}: {e}",
            n = v.name
        ),
    }
}

/// Where each volume of the pod is on this machine.
pub async fn host_paths(client: &kube::Client, root: &Path, pod: &Pod) -> Result<Mounted, Failure> {
    let id = crate::pods::sandbox::ids(pod);
    let mut out = Mounted::new();
    for v in pod.spec.iter().flat_map(|s| s.volumes.iter().flatten()) {
        let hv = if let Some(kind) = kind_dir(v) {
            HostVolume {
                path: volume_dir(root, id.uid, kind, &v.name),
                read_only: kind != "empty-dir",
            }
        } else if let Some(h) = &v.host_path {
            HostVolume {
                path: PathBuf::from(&h.path),
                read_only: false,
            }
        } else if let Some(c) = &v.persistent_volume_claim {
            let (path, _) = claim_path(client, id.namespace, &c.claim_name)
                .await
                .map_err(|e| claim_failed(v, id.namespace, &c.claim_name, &e))?;
            HostVolume {
                path,
                read_only: c.read_only == Some(true),
            }
        } else {
            continue;
        };
        out.insert(v.name.clone(), hv);
    }
    Ok(out)
}

/// Sets up every volume of the pod (idempotent); the first failure is returned.
pub async fn setup(e: &Env<'_>, pod: &Pod, state: &mut State) -> Result<Mounted, Failure> {
    let id = crate::pods::sandbox::ids(pod);
    let volumes: Vec<Volume> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.clone().unwrap_or_default())
        .collect();
    for v in &volumes {
        if let Some(ed) = &v.empty_dir {
            let dir = volume_dir(e.root, id.uid, "empty-dir", &v.name);
            empty_dir(
                &dir,
                ed.medium.as_deref() == Some("Memory"),
                ed.size_limit.as_ref(),
                fs_group(pod),
            )
            .map_err(|m| setup_failed(v, m))?;
        } else if let Some(h) = &v.host_path {
            hostpath::check(Path::new(&h.path), h.type_.as_deref().unwrap_or(""))
                .map_err(|m| setup_failed(v, m))?;
        } else if let Some(c) = &v.persistent_volume_claim {
            let (path, type_) = claim_path(e.client, id.namespace, &c.claim_name)
                .await
                .map_err(|m| claim_failed(v, id.namespace, &c.claim_name, &m))?;
            // A PV's hostPath is made when missing, as DirectoryOrCreate.
            let type_ = if type_.is_empty() {
                "DirectoryOrCreate".to_string()
            } else {
                type_
            };
            hostpath::check(&path, &type_).map_err(|m| setup_failed(v, m))?;
        }
    }
    state.last_refresh = Some(Instant::now());
    write_all(e, pod, state, &volumes).await?;
    host_paths(e.client, e.root, pod).await
}

/// Brings the pod's configMap, secret, downwardAPI and projected volumes up to date; a
/// failure keeps the old files and is reported for an event.
pub async fn refresh(e: &Env<'_>, pod: &Pod, state: &mut State) -> Result<(), Failure> {
    state.last_refresh = Some(Instant::now());
    let volumes: Vec<Volume> = pod
        .spec
        .iter()
        .flat_map(|s| s.volumes.clone().unwrap_or_default())
        .collect();
    write_all(e, pod, state, &volumes).await
}

async fn write_all(
    e: &Env<'_>,
    pod: &Pod,
    state: &mut State,
    volumes: &[Volume],
) -> Result<(), Failure> {
    let id = crate::pods::sandbox::ids(pod);
    for v in volumes {
        let Some(kind) = kind_dir(v).filter(|k| *k != "empty-dir") else {
            continue;
        };
        let dir = volume_dir(e.root, id.uid, kind, &v.name);
        let payload = payload(e, pod, state, v)
            .await
            .map_err(|m| setup_failed(v, m))?;
        std::fs::create_dir_all(&dir).map_err(|err| setup_failed(v, err.to_string()))?;
        if matches!(kind, "secret" | "projected") {
            // Never on disk, as upstream.
            sys::mount_tmpfs(&dir, None)
                .map_err(|err| setup_failed(v, format!("mounting tmpfs: {err}")))?;
        }
        atomic::write(&dir, &payload, fs_group(pod))
            .map_err(|err| setup_failed(v, err.to_string()))?;
    }
    Ok(())
}

async fn get_config_map(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Result<Option<ConfigMap>, String> {
    env::get_opt(
        &Api::<ConfigMap>::namespaced(client.clone(), ns),
        "configmap",
        name,
    )
    .await
}

async fn get_secret(client: &kube::Client, ns: &str, name: &str) -> Result<Option<Secret>, String> {
    env::get_opt(
        &Api::<Secret>::namespaced(client.clone(), ns),
        "secret",
        name,
    )
    .await
}

async fn payload(e: &Env<'_>, pod: &Pod, state: &mut State, v: &Volume) -> Result<Payload, String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    if let Some(c) = &v.config_map {
        let optional = c.optional == Some(true);
        return match get_config_map(e.client, ns, &c.name).await? {
            Some(cm) => projection::config_map(&cm, c.items.as_deref(), c.default_mode, optional),
            None if optional => Ok(Payload::new()),
            None => Err(env::not_found("configmap", &c.name)),
        };
    }
    if let Some(s) = &v.secret {
        let name = s.secret_name.clone().unwrap_or_default();
        let optional = s.optional == Some(true);
        return match get_secret(e.client, ns, &name).await? {
            Some(secret) => {
                projection::secret(&secret, s.items.as_deref(), s.default_mode, optional)
            }
            None if optional => Ok(Payload::new()),
            None => Err(env::not_found("secret", &name)),
        };
    }
    if let Some(d) = &v.downward_api {
        return projection::downward_api(
            pod,
            d.items.as_deref().unwrap_or(&[]),
            d.default_mode,
            e.facts,
        );
    }
    let Some(p) = &v.projected else {
        return Ok(Payload::new());
    };
    let mut out = Payload::new();
    let mut errors = Vec::new();
    for src in p.sources.iter().flatten() {
        let part = if let Some(c) = &src.config_map {
            let optional = c.optional == Some(true);
            match get_config_map(e.client, ns, &c.name).await {
                Ok(Some(cm)) => {
                    projection::config_map(&cm, c.items.as_deref(), p.default_mode, optional)
                }
                Ok(None) if optional => Ok(Payload::new()),
                Ok(None) => Err(env::not_found("configmap", &c.name)),
                Err(err) => Err(err),
            }
        } else if let Some(s) = &src.secret {
            let optional = s.optional == Some(true);
            match get_secret(e.client, ns, &s.name).await {
                Ok(Some(secret)) => {
                    projection::secret(&secret, s.items.as_deref(), p.default_mode, optional)
                }
                Ok(None) if optional => Ok(Payload::new()),
                Ok(None) => Err(env::not_found("secret", &s.name)),
                Err(err) => Err(err),
            }
        } else if let Some(d) = &src.downward_api {
            projection::downward_api(
                pod,
                d.items.as_deref().unwrap_or(&[]),
                p.default_mode,
                e.facts,
            )
        } else if let Some(t) = &src.service_account_token {
            service_account_token(e, pod, state, v, t, p.default_mode).await
        } else {
            Err("unsupported projected volume source".into())
        };
        match part {
            Ok(files) => out.extend(files),
            Err(err) => errors.push(err),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors.join(", "))
    }
}

async fn service_account_token(
    e: &Env<'_>,
    pod: &Pod,
    state: &mut State,
    v: &Volume,
    t: &k8s_openapi::api::core::v1::ServiceAccountTokenProjection,
    default_mode: Option<i32>,
) -> Result<Payload, String> {
    let key = format!("{}/{}", v.name, t.path);
    let fresh = state
        .tokens
        .get(&key)
        .filter(|tok| !token::needs_refresh(tok, SystemTime::now()))
        .cloned();
    let tok = match fresh {
        Some(tok) => tok,
        None => {
            let tok =
                token::fetch(e.client, pod, t.audience.as_deref(), t.expiration_seconds).await?;
            state.tokens.insert(key, tok.clone());
            tok
        }
    };
    let mode = (default_mode.unwrap_or(projection::DEFAULT_MODE) & 0o777) as u32;
    Ok([(
        t.path.clone(),
        atomic::FileData {
            data: tok.token.into_bytes(),
            mode,
        },
    )]
    .into())
}

fn empty_dir(
    dir: &Path,
    memory: bool,
    size_limit: Option<&k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    group: Option<i64>,
) -> Result<(), String> {
    let fresh = !dir.exists();
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    if memory {
        let size = size_limit
            .and_then(|q| crate::resources::milli_value(&q.0))
            .map(|m| (m / 1000).max(0) as u64)
            .filter(|s| *s > 0);
        sys::mount_tmpfs(dir, size).map_err(|e| format!("mounting tmpfs: {e}"))?;
    }
    if fresh || memory {
        let mut mode = 0o777;
        if let Some(g) = group {
            sys::chgrp(dir, g).map_err(|e| e.to_string())?;
            mode |= 0o2000;
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Unmounts and removes everything the pod had under `root` (hostPath and PV paths are not
/// there and stay).
pub fn cleanup(root: &Path, uid: &str) {
    if uid.is_empty() {
        return;
    }
    let dir = pod_dir(root, uid);
    if !dir.exists() {
        return;
    }
    for m in sys::mounts_under(&dir) {
        if let Err(e) = sys::unmount(&m) {
            tracing::warn!(path = %m.display(), error = %e, "unmounting a pod volume");
        }
    }
    if let Err(e) = std::fs::remove_dir_all(&dir) {
        tracing::warn!(path = %dir.display(), error = %e, "removing a pod's volumes");
    }
}

/// Removes the volumes of pods that are no longer this node's (gone while the agent was down).
pub fn sweep(root: &Path, live_uids: &[String]) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let uid = entry.file_name().to_string_lossy().into_owned();
        if !live_uids.contains(&uid) {
            tracing::info!(pod_uid = %uid, "removing the volumes of a pod no longer in the API");
            cleanup(root, &uid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    /// A client whose API answers TokenRequests with `tok-<n>` (or 404 when `serve` is false).
    fn client(calls: Arc<AtomicU32>, serve: bool) -> kube::Client {
        let svc = tower::service_fn(move |req: http::Request<kube::client::Body>| {
            let calls = calls.clone();
            async move {
                assert_eq!(req.method(), "POST");
                assert_eq!(
                    req.uri().path(),
                    "/api/v1/namespaces/ns/serviceaccounts/robot/token"
                );
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                let (code, body) = if serve {
                    let expires = time::OffsetDateTime::now_utc() + time::Duration::seconds(600);
                    let stamp = expires
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    (
                        200,
                        serde_json::json!({
                            "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                            "spec": {"audiences": []},
                            "status": {"token": format!("tok-{n}"), "expirationTimestamp": stamp},
                        }),
                    )
                } else {
                    (
                        404,
                        serde_json::json!({
                            "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                            "reason": "NotFound", "message": "the server could not find the requested resource",
                        }),
                    )
                };
                let body = kube::client::Body::from(serde_json::to_vec(&body).unwrap_or_default());
                Ok::<_, std::convert::Infallible>(
                    http::Response::builder()
                        .status(code)
                        .header("content-type", "application/json")
                        .body(body)
                        .unwrap(),
                )
            }
        });
        kube::Client::new(svc, "default")
    }

    fn token_pod() -> (Pod, Volume) {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
            "spec": {"serviceAccountName": "robot", "containers": [], "volumes": [{
                "name": "kube-api-access-x",
                "projected": {"sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 600}}]},
            }]},
        }))
        .unwrap();
        let v = pod.spec.as_ref().unwrap().volumes.as_ref().unwrap()[0].clone();
        (pod, v)
    }

    fn token_of(p: &Result<Payload, String>) -> String {
        match p {
            Ok(p) => p
                .get("token")
                .map(|f| format!("{} {:o}", String::from_utf8_lossy(&f.data), f.mode))
                .unwrap_or_default(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[tokio::test]
    async fn service_account_tokens_are_cached_and_refreshed() {
        let calls = Arc::new(AtomicU32::new(0));
        let client = client(calls.clone(), true);
        let facts = downward::Facts::default();
        let e = Env {
            client: &client,
            root: Path::new("/nonexistent"),
            facts: &facts,
        };
        let (pod, v) = token_pod();
        let mut state = State::default();
        assert_eq!(
            token_of(&payload(&e, &pod, &mut state, &v).await),
            "tok-1 644"
        );
        assert_eq!(
            token_of(&payload(&e, &pod, &mut state, &v).await),
            "tok-1 644"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a fresh token is reused");
        // 80% of its 10 minutes gone: requested again.
        for t in state.tokens.values_mut() {
            t.issued -= Duration::from_secs(481);
            t.expires -= Duration::from_secs(481);
        }
        assert_eq!(
            token_of(&payload(&e, &pod, &mut state, &v).await),
            "tok-2 644"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn repeated_failures_are_reported_once_a_minute() {
        let mut s = State::default();
        let got: Vec<bool> = ["a", "a", "b", "b", "a"]
            .iter()
            .map(|m| s.should_report(m))
            .collect();
        assert_eq!(got, [true, false, true, false, true]);
    }

    #[tokio::test]
    async fn layout() {
        let client = client(Arc::new(AtomicU32::new(0)), false);
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "ns", "uid": "u-1"},
            "spec": {"containers": [], "volumes": [
                {"name": "scratch", "emptyDir": {}},
                {"name": "cfg", "configMap": {"name": "c"}},
                {"name": "creds", "secret": {"secretName": "s"}},
                {"name": "info", "downwardAPI": {"items": []}},
                {"name": "all", "projected": {"sources": []}},
                {"name": "host", "hostPath": {"path": "/var/log"}},
            ]},
        }))
        .unwrap();
        let got = host_paths(&client, Path::new("/d/kubelet/pods"), &pod)
            .await
            .unwrap();
        let got: Vec<String> = got
            .iter()
            .map(|(k, v)| format!("{k} {} ro={}", v.path.display(), v.read_only))
            .collect();
        assert_eq!(
            got,
            [
                "all /d/kubelet/pods/u-1/volumes/kubernetes.io~projected/all ro=true",
                "cfg /d/kubelet/pods/u-1/volumes/kubernetes.io~configmap/cfg ro=true",
                "creds /d/kubelet/pods/u-1/volumes/kubernetes.io~secret/creds ro=true",
                "host /var/log ro=false",
                "info /d/kubelet/pods/u-1/volumes/kubernetes.io~downward-api/info ro=true",
                "scratch /d/kubelet/pods/u-1/volumes/kubernetes.io~empty-dir/scratch ro=false",
            ]
        );
    }

    #[tokio::test]
    async fn token_api_missing_is_a_mount_failure() {
        let client = client(Arc::new(AtomicU32::new(0)), false);
        let facts = downward::Facts::default();
        let e = Env {
            client: &client,
            root: Path::new("/nonexistent"),
            facts: &facts,
        };
        let (pod, v) = token_pod();
        let got = payload(&e, &pod, &mut State::default(), &v).await;
        assert_eq!(
            token_of(&got),
            "error: failed to fetch token: the server could not find the requested resource"
        );
        let failure = setup_failed(&v, got.unwrap_err());
        assert_eq!(
            failure.message,
            "MountVolume.SetUp failed for volume \"kube-api-access-x\" : failed to fetch token: the server could not find the requested resource"
        );
    }
}
