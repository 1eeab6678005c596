//! Getting a container's image onto the node: imagePullPolicy, credentials from the pod's
//! pull secrets and `--registry-config`, containerd's per-registry `hosts.toml`, and the
//! kubelet's events (Pulling, Pulled, Failed).

pub mod credentials;
pub mod registries;

use std::path::PathBuf;

use k8s_openapi::api::core::v1::{Container, Pod, Secret};
use kube::Api;

use crate::cri::{v1 as cri, Cri};
use crate::events::Recorder;
use crate::Error;
use credentials::Credential;

/// What every pull on this node shares.
pub struct Pulls {
    pub client: kube::Client,
    /// Our containerd's registry hosts dir, when we run containerd.
    pub certs_d: Option<PathBuf>,
    pub registries: registries::Registries,
}

/// upstream's default: `Always` for `:latest` or no tag, else `IfNotPresent` (the API
/// server fills it in, but a pod from an older client may lack it).
pub fn pull_policy(c: &Container) -> &str {
    if let Some(p) = c.image_pull_policy.as_deref() {
        return p;
    }
    let image = c.image.as_deref().unwrap_or("");
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent"
    } else if last.split_once(':').is_none_or(|(_, tag)| tag == "latest") {
        "Always"
    } else {
        "IfNotPresent"
    }
}

/// `ErrImageNeverPull` when the policy forbids pulling, else `ErrImagePull`.
pub fn pull_reason(c: &Container) -> &'static str {
    if pull_policy(c) == "Never" {
        "ErrImageNeverPull"
    } else {
        "ErrImagePull"
    }
}

impl Pulls {
    /// The logins to try for `image`: the pod's pull secrets' (most specific first), then
    /// the registry config's. A secret that cannot be read is reported, as upstream does,
    /// and the pull goes on without it.
    async fn credentials(&self, events: &Recorder, pod: &Pod, image: &str) -> Vec<Credential> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
        let names: Vec<String> = pod
            .spec
            .iter()
            .flat_map(|s| s.image_pull_secrets.iter().flatten())
            .map(|r| r.name.clone())
            .filter(|n| !n.is_empty())
            .collect();
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let mut entries = Vec::new();
        let mut missing = Vec::new();
        for name in names {
            match api.get_opt(&name).await {
                Ok(Some(s)) => {
                    let data = s
                        .data
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(k, v)| {
                            use base64::Engine;
                            (k, base64::engine::general_purpose::STANDARD.encode(v.0))
                        })
                        .collect();
                    entries.extend(credentials::from_secret(
                        s.type_.as_deref().unwrap_or(""),
                        &data,
                    ));
                }
                Ok(None) | Err(_) => missing.push(name),
            }
        }
        if !missing.is_empty() {
            let msg = format!(
                "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed.",
                missing.join(", ")
            );
            events.record(pod, None, true, "FailedToRetrieveImagePullSecret", &msg);
        }
        let mut creds = credentials::matching(image, &entries);
        let (host, _) = credentials::split_image(image);
        if let Some((_, c)) = self.registries.credential(&host) {
            if !creds.contains(&c) {
                creds.push(c);
            }
        }
        creds
    }

    /// Writes the `hosts.toml` a loopback registry needs, unless the registry config
    /// already wrote one for that host.
    fn ensure_hosts(&self, image: &str) -> Result<(), Error> {
        let Some(certs_d) = &self.certs_d else {
            return Ok(());
        };
        if let Some(host) = crate::containerd::registry_host(image) {
            if self.registries.hosts().iter().any(|h| h == host) {
                return Ok(());
            }
        }
        crate::containerd::ensure_registry_hosts(certs_d, image)
    }
}

/// Pulls `image` unless the policy and the image store say it is not needed; returns the
/// image reference to create containers from.
pub async fn ensure_image(
    cri: &Cri,
    pulls: &Pulls,
    events: &Recorder,
    pod: &Pod,
    c: &Container,
    sandbox: &cri::PodSandboxConfig,
) -> Result<String, Error> {
    let image = c.image.as_deref().unwrap_or("");
    let policy = pull_policy(c);
    let name = Some(c.name.as_str());
    if policy != "Always" {
        if let Some(id) = cri.image_present(image).await? {
            let msg = format!("Container image {image:?} already present on machine");
            events.record(pod, name, false, "Pulled", &msg);
            return Ok(id);
        }
        if policy == "Never" {
            let msg = format!("Container image {image:?} is not present with pull policy of Never");
            events.record(pod, name, true, "ErrImageNeverPull", &msg);
            return Err(Error::Cri(msg));
        }
    }
    pulls.ensure_hosts(image)?;
    events.record(
        pod,
        name,
        false,
        "Pulling",
        &format!("Pulling image {image:?}"),
    );
    let started = std::time::Instant::now();
    let creds = pulls.credentials(events, pod, image).await;
    let attempts: Vec<Option<&Credential>> = if creds.is_empty() {
        vec![None]
    } else {
        creds.iter().map(Some).collect()
    };
    let mut last = None;
    for auth in attempts {
        match cri.pull_image(image, auth, sandbox).await {
            Ok(r) => {
                let msg = format!(
                    "Successfully pulled image {image:?} in {:?}",
                    started.elapsed()
                );
                events.record(pod, name, false, "Pulled", &msg);
                return Ok(r);
            }
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| Error::Cri("no pull attempted".into()));
    let detail = match &e {
        Error::Cri(m) => m.clone(),
        e => e.to_string(),
    };
    let msg = format!("Failed to pull image {image:?}: {detail}");
    events.record(pod, name, true, "Failed", &msg);
    events.record(pod, name, true, "Failed", "Error: ErrImagePull");
    Err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policies() {
        let cases = [
            ("nginx", None, "Always"),
            ("nginx:latest", None, "Always"),
            ("nginx:1.27", None, "IfNotPresent"),
            ("127.0.0.1:5055/skiff/testimage", None, "Always"),
            ("127.0.0.1:5055/skiff/testimage:1", None, "IfNotPresent"),
            ("x@sha256:abc", None, "IfNotPresent"),
            ("nginx", Some("Never"), "Never"),
        ];
        for (image, policy, want) in cases {
            let c = Container {
                image: Some(image.into()),
                image_pull_policy: policy.map(String::from),
                ..Default::default()
            };
            assert_eq!(pull_policy(&c), want, "{image} {policy:?}");
        }
    }
}
