//! CRI v1 client over a unix socket (tonic; bindings from the `k8s-cri` crate).

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

pub use k8s_cri::v1;

use crate::Error;

/// Both CRI services on one connection. Cheap to clone.
#[derive(Clone)]
pub struct Cri {
    pub runtime: RuntimeServiceClient<Channel>,
    pub image: ImageServiceClient<Channel>,
}

impl Cri {
    /// Connects lazily: the channel dials the socket on first use and redials after
    /// containerd restarts.
    pub fn connect(socket: &Path) -> Result<Cri, Error> {
        let path: PathBuf = socket.to_path_buf();
        // The URI is a placeholder: every connection goes to the socket.
        let endpoint = Endpoint::try_from("http://[::1]:50051")
            .map_err(|e| Error::Cri(format!("endpoint: {e}")))?
            .connect_timeout(Duration::from_secs(5));
        let channel = endpoint.connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
            let path = path.clone();
            async move { Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?)) }
        }));
        Ok(Cri {
            runtime: RuntimeServiceClient::new(channel.clone()).max_decoding_message_size(16 << 20),
            image: ImageServiceClient::new(channel).max_decoding_message_size(16 << 20),
        })
    }

    /// Waits until the runtime answers `Version` (containerd takes a moment to start).
    pub async fn wait_ready(&self, timeout: Duration) -> Result<cri::VersionResponse, Error> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let mut rt = self.runtime.clone();
            let last = match rt.version(cri::VersionRequest::default()).await {
                Ok(v) => return Ok(v.into_inner()),
                Err(e) => e.message().to_string(),
            };
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Cri(format!(
                    "container runtime did not answer within {timeout:?}: {last}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn pull_image(
        &self,
        image: &str,
        auth: Option<&crate::pull::credentials::Credential>,
        sandbox: &cri::PodSandboxConfig,
    ) -> Result<String, Error> {
        let mut c = self.image.clone();
        let req = cri::PullImageRequest {
            image: Some(image_spec(image)),
            auth: auth.map(|a| cri::AuthConfig {
                username: a.username.clone(),
                password: a.password.clone(),
                identity_token: a.identity_token.clone(),
                registry_token: a.registry_token.clone(),
                ..Default::default()
            }),
            sandbox_config: Some(sandbox.clone()),
        };
        let resp = c
            .pull_image(req)
            .await
            .map_err(|e| Error::status("PullImage", e))?;
        Ok(resp.into_inner().image_ref)
    }

    /// The image's id when it is already present.
    pub async fn image_present(&self, image: &str) -> Result<Option<String>, Error> {
        let mut c = self.image.clone();
        let req = cri::ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        };
        let resp = c
            .image_status(req)
            .await
            .map_err(|e| Error::status("ImageStatus", e))?;
        Ok(resp.into_inner().image.map(|i| i.id))
    }

    /// The user an image runs as: its numeric uid, or else its user name ("" when unset).
    pub async fn image_user(&self, image: &str) -> Result<(Option<i64>, String), Error> {
        let mut c = self.image.clone();
        let req = cri::ImageStatusRequest {
            image: Some(image_spec(image)),
            verbose: false,
        };
        let resp = c
            .image_status(req)
            .await
            .map_err(|e| Error::status("ImageStatus", e))?;
        Ok(resp
            .into_inner()
            .image
            .map(|i| (i.uid.map(|u| u.value), i.username))
            .unwrap_or_default())
    }

    pub async fn run_sandbox(&self, config: cri::PodSandboxConfig) -> Result<String, Error> {
        let mut c = self.runtime.clone();
        let req = cri::RunPodSandboxRequest {
            config: Some(config),
            runtime_handler: String::new(),
        };
        let resp = c
            .run_pod_sandbox(req)
            .await
            .map_err(|e| Error::status("RunPodSandbox", e))?;
        Ok(resp.into_inner().pod_sandbox_id)
    }

    pub async fn sandbox_status(&self, id: &str) -> Result<cri::PodSandboxStatus, Error> {
        let mut c = self.runtime.clone();
        let req = cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: false,
        };
        let resp = c
            .pod_sandbox_status(req)
            .await
            .map_err(|e| Error::status("PodSandboxStatus", e))?;
        resp.into_inner()
            .status
            .ok_or_else(|| Error::Cri(format!("PodSandboxStatus {id}: no status")))
    }

    /// Sandboxes carrying a label, e.g. a pod's uid.
    pub async fn sandboxes_labelled(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<cri::PodSandbox>, Error> {
        let mut c = self.runtime.clone();
        let req = cri::ListPodSandboxRequest {
            filter: Some(cri::PodSandboxFilter {
                label_selector: [(key.to_string(), value.to_string())].into(),
                ..Default::default()
            }),
        };
        let resp = c
            .list_pod_sandbox(req)
            .await
            .map_err(|e| Error::status("ListPodSandbox", e))?;
        Ok(resp.into_inner().items)
    }

    pub async fn list_sandboxes(&self) -> Result<Vec<cri::PodSandbox>, Error> {
        let mut c = self.runtime.clone();
        let resp = c
            .list_pod_sandbox(cri::ListPodSandboxRequest { filter: None })
            .await
            .map_err(|e| Error::status("ListPodSandbox", e))?;
        Ok(resp.into_inner().items)
    }

    pub async fn containers_in(&self, sandbox_id: &str) -> Result<Vec<cri::Container>, Error> {
        let mut c = self.runtime.clone();
        let req = cri::ListContainersRequest {
            filter: Some(cri::ContainerFilter {
                pod_sandbox_id: sandbox_id.into(),
                ..Default::default()
            }),
        };
        let resp = c
            .list_containers(req)
            .await
            .map_err(|e| Error::status("ListContainers", e))?;
        Ok(resp.into_inner().containers)
    }

    pub async fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
        sandbox: &cri::PodSandboxConfig,
    ) -> Result<String, Error> {
        let mut c = self.runtime.clone();
        let req = cri::CreateContainerRequest {
            pod_sandbox_id: sandbox_id.into(),
            config: Some(config),
            sandbox_config: Some(sandbox.clone()),
        };
        let resp = c
            .create_container(req)
            .await
            .map_err(|e| Error::status("CreateContainer", e))?;
        Ok(resp.into_inner().container_id)
    }

    pub async fn start_container(&self, id: &str) -> Result<(), Error> {
        let mut c = self.runtime.clone();
        c.start_container(cri::StartContainerRequest {
            container_id: id.into(),
        })
        .await
        .map_err(|e| Error::status("StartContainer", e))?;
        Ok(())
    }

    pub async fn container_status(&self, id: &str) -> Result<cri::ContainerStatus, Error> {
        let mut c = self.runtime.clone();
        let req = cri::ContainerStatusRequest {
            container_id: id.into(),
            verbose: false,
        };
        let resp = c
            .container_status(req)
            .await
            .map_err(|e| Error::status("ContainerStatus", e))?;
        resp.into_inner()
            .status
            .ok_or_else(|| Error::Cri(format!("ContainerStatus {id}: no status")))
    }

    /// SIGTERM, then SIGKILL after `grace_seconds` (the runtime does the waiting).
    pub async fn stop_container(&self, id: &str, grace_seconds: i64) -> Result<(), Error> {
        let mut c = self.runtime.clone();
        let req = cri::StopContainerRequest {
            container_id: id.into(),
            timeout: grace_seconds,
        };
        c.stop_container(req)
            .await
            .map_err(|e| Error::status("StopContainer", e))?;
        Ok(())
    }

    pub async fn remove_container(&self, id: &str) -> Result<(), Error> {
        let mut c = self.runtime.clone();
        c.remove_container(cri::RemoveContainerRequest {
            container_id: id.into(),
        })
        .await
        .map_err(|e| Error::status("RemoveContainer", e))?;
        Ok(())
    }

    pub async fn stop_sandbox(&self, id: &str) -> Result<(), Error> {
        let mut c = self.runtime.clone();
        c.stop_pod_sandbox(cri::StopPodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
        .await
        .map_err(|e| Error::status("StopPodSandbox", e))?;
        Ok(())
    }

    pub async fn remove_sandbox(&self, id: &str) -> Result<(), Error> {
        let mut c = self.runtime.clone();
        c.remove_pod_sandbox(cri::RemovePodSandboxRequest {
            pod_sandbox_id: id.into(),
        })
        .await
        .map_err(|e| Error::status("RemovePodSandbox", e))?;
        Ok(())
    }
}

pub fn image_spec(image: &str) -> cri::ImageSpec {
    cri::ImageSpec {
        image: image.into(),
        ..Default::default()
    }
}
