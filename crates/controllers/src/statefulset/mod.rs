//! The StatefulSet controller (upstream `pkg/controller/statefulset`): pods with stable
//! names `<set>-<ordinal>`, their claims from `volumeClaimTemplates`, ordered or parallel
//! scaling, rolling updates through ControllerRevisions, and the status kubectl's
//! `rollout status` reads.
//!
//! Like the ReplicaSet controller, each sync re-lists pods from the API instead of keeping
//! upstream's expectations: the apiserver's lists include every acknowledged write.

mod identity;
mod plan;
mod retention;
mod status;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

use crate::event_recorder::{self, Involved};
use crate::{history, pod_claims, podinfo, selector, Error};
use plan::{Seen, Step};

const COMPONENT: &str = "statefulset-controller";

struct Ctx {
    client: Client,
}

pub async fn run(client: Client, informers: &crate::informers::Informers) {
    let sets: Api<StatefulSet> = Api::all(client.clone());
    Controller::new(sets, watcher::Config::default())
        .watches_shared_stream(
            informers.pods.subscribe_where(|pod| {
                !crate::informers::owners::<StatefulSet>(&pod.metadata).is_empty()
            }),
            |pod| crate::informers::owners::<StatefulSet>(&pod.metadata),
        )
        .run(reconcile, error_policy, Arc::new(Ctx { client }))
        .for_each(|_| async {})
        .await;
}

fn error_policy(set: Arc<StatefulSet>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(statefulset = %set.name_any(), error = %err, "statefulset sync failed; retrying");
    Action::requeue(Duration::from_secs(2))
}

async fn reconcile(cached: Arc<StatefulSet>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let ns = cached.namespace().unwrap_or_default();
    let sets: Api<StatefulSet> = Api::namespaced(ctx.client.clone(), &ns);
    let Some(set) = sets.get_opt(&cached.name_any()).await? else {
        return Ok(Action::await_change());
    };
    if set.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    Sync::new(&ctx.client, &set).run(&sets).await
}

/// One sync of one StatefulSet.
struct Sync<'a> {
    client: &'a Client,
    set: &'a StatefulSet,
    ns: String,
    name: String,
    uid: String,
    pods: Api<Pod>,
}

impl<'a> Sync<'a> {
    fn new(client: &'a Client, set: &'a StatefulSet) -> Self {
        let ns = set.namespace().unwrap_or_default();
        Sync {
            client,
            set,
            name: set.name_any(),
            uid: set.metadata.uid.clone().unwrap_or_default(),
            pods: Api::namespaced(client.clone(), &ns),
            ns,
        }
    }

    async fn run(&self, sets: &Api<StatefulSet>) -> Result<Action, Error> {
        let spec = self.set.spec.clone();
        let now = Timestamp::now();

        // Pods this set controls: its own that still match, and orphans with its selector
        // and one of its ordinal names (adopted).
        let selector = spec.selector.clone();
        let owned: Vec<Pod> = pod_claims::claim_all(
            &self.pods,
            self.pods.list(&ListParams::default()).await?.items,
            &identity::controller_ref(self.set),
            false,
            |p| {
                identity::ordinal_of(&self.name, &p.name_any()).is_some()
                    && selector::matches(&selector, &p.metadata.labels.clone().unwrap_or_default())
            },
        )
        .await?;

        // Revisions: the update revision is the template as it is now.
        let revisions_api: Api<ControllerRevision> = Api::namespaced(self.client.clone(), &self.ns);
        let mut revisions = history::claim(
            &revisions_api,
            revisions_api.list(&ListParams::default()).await?.items,
            &identity::controller_ref(self.set),
            &spec.selector,
        )
        .await?;
        let old_status = self.set.status.clone().unwrap_or_default();
        let mut collision_count = old_status.collision_count.unwrap_or(0);
        let owner = history::Owner {
            namespace: &self.ns,
            name: &self.name,
            controller_ref: identity::controller_ref(self.set),
            labels: spec
                .template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default(),
            annotations: self.set.metadata.annotations.clone().unwrap_or_default(),
        };
        let data = history::template_patch(&spec.template)?;
        let update_rev = history::ensure(
            &revisions_api,
            &owner,
            &data,
            &mut revisions,
            &mut collision_count,
        )
        .await?;
        let update_name = update_rev.metadata.name.clone().unwrap_or_default();
        let current_rev = old_status
            .current_revision
            .as_deref()
            .and_then(|n| {
                revisions
                    .iter()
                    .find(|r| r.metadata.name.as_deref() == Some(n))
            })
            .unwrap_or(&update_rev);
        let current_name = current_rev.metadata.name.clone().unwrap_or_default();
        let current_template =
            history::template_of(current_rev).unwrap_or_else(|| spec.template.clone());

        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        let seen: Vec<Seen> = owned
            .iter()
            .filter_map(|p| {
                let ordinal = identity::ordinal_of(&self.name, &p.name_any())?;
                let ready = status::running_and_ready(p);
                Some(Seen {
                    ordinal,
                    terminating: p.metadata.deletion_timestamp.is_some(),
                    finished: podinfo::is_terminal(p),
                    ready,
                    available: ready && podinfo::is_available(p, min_ready, now),
                    updated: status::revision_of(p) == update_name,
                })
            })
            .collect();
        let rolling = spec
            .update_strategy
            .as_ref()
            .and_then(|u| u.type_.as_deref())
            .is_none_or(|t| t == "RollingUpdate");
        let replicas = spec.replicas.unwrap_or(1);
        let max_unavailable = spec
            .update_strategy
            .as_ref()
            .and_then(|u| u.rolling_update.as_ref())
            .and_then(|r| r.max_unavailable.as_ref())
            .map(|v| match v {
                IntOrString::Int(i) => i.to_string(),
                IntOrString::String(s) => s.clone(),
            });
        let plan_spec = plan::Spec {
            start: identity::start_ordinal(self.set),
            replicas,
            max_unavailable: plan::resolve_max_unavailable(max_unavailable.as_deref(), replicas),
            parallel: spec.pod_management_policy.as_deref() == Some("Parallel"),
            rolling_partition: rolling.then(|| {
                spec.update_strategy
                    .as_ref()
                    .and_then(|u| u.rolling_update.as_ref())
                    .and_then(|r| r.partition)
                    .unwrap_or(0)
            }),
        };

        self.apply_retention(&owned, &plan_spec).await?;
        for step in plan::plan(&plan_spec, &seen) {
            match step {
                Step::Create { ordinal, current } => {
                    let (template, rev): (&PodTemplateSpec, &str) = if current {
                        (&current_template, &current_name)
                    } else {
                        (&spec.template, &update_name)
                    };
                    self.create(ordinal, template, rev).await?;
                }
                Step::Delete { ordinal } => {
                    if let Some(pod) = owned
                        .iter()
                        .find(|p| identity::ordinal_of(&self.name, &p.name_any()) == Some(ordinal))
                    {
                        self.delete(pod).await?;
                    }
                }
            }
        }

        let revs = status::Revisions {
            current: &current_name,
            update: &update_name,
            collision_count,
        };
        let new_status = status::compute(self.set, &owned, &revs, now);
        if self.set.status.as_ref() != Some(&new_status) {
            sets.patch_status(
                &self.name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": new_status})),
            )
            .await?;
        }

        let mut live: HashSet<String> = owned
            .iter()
            .map(|p| status::revision_of(p).to_string())
            .collect();
        live.insert(current_name.clone());
        live.insert(update_name.clone());
        if let Some(cur) = &new_status.current_revision {
            live.insert(cur.clone());
        }
        history::prune(
            &revisions_api,
            &revisions,
            &live,
            spec.revision_history_limit.unwrap_or(10),
        )
        .await?;

        // Availability arrives minReadySeconds after readiness, with no event to say so.
        let waiting = seen.iter().any(|s| s.ready && !s.available);
        Ok(if min_ready > 0 && waiting {
            Action::requeue(Duration::from_secs(u64::try_from(min_ready).unwrap_or(1)))
        } else {
            Action::await_change()
        })
    }

    fn involved(&self) -> Involved<'_> {
        Involved {
            api_version: "apps/v1",
            kind: "StatefulSet",
            namespace: &self.ns,
            name: &self.name,
            uid: &self.uid,
        }
    }

    async fn event(&self, warning: bool, reason: &str, message: String) {
        event_recorder::record(
            self.client,
            COMPONENT,
            &self.involved(),
            warning,
            reason,
            &message,
        )
        .await;
    }

    /// Creates the pod's missing claims, then the pod.
    async fn create(
        &self,
        ordinal: i32,
        template: &PodTemplateSpec,
        revision: &str,
    ) -> Result<(), Error> {
        let pod = identity::new_pod(self.set, template, ordinal, revision);
        let pod_name = pod.name_any();
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &self.ns);
        for (_, mut claim) in identity::claims(self.set, ordinal) {
            let claim_name = claim.name_any();
            if let Some(existing) = claims.get_opt(&claim_name).await? {
                // Upstream waits for a claim on its way out rather than start a pod on it.
                if existing.metadata.deletion_timestamp.is_some() {
                    return Err(Error::NotYet(format!("pvc {claim_name} is being deleted")));
                }
                continue;
            }
            let policy = self.policy();
            let set_ref = retention::plain_ref("apps/v1", "StatefulSet", &self.name, &self.uid);
            if policy.delete_when_deleted {
                claim.metadata.owner_references = Some(vec![set_ref]);
            }
            match claims.create(&PostParams::default(), &claim).await {
                Ok(_) => {
                    self.event(
                        false,
                        "SuccessfulCreate",
                        format!(
                            "create Claim {claim_name} Pod {pod_name} in StatefulSet {} success",
                            self.name
                        ),
                    )
                    .await
                }
                Err(kube::Error::Api(e)) if e.code == 409 => {}
                Err(e) => {
                    self.event(
                        true,
                        "FailedCreate",
                        format!(
                            "create Claim {claim_name} for Pod {pod_name} in StatefulSet {} failed error: {}",
                            self.name,
                            api_message(&e)
                        ),
                    )
                    .await;
                    return Err(e.into());
                }
            }
        }
        match self.pods.create(&PostParams::default(), &pod).await {
            Ok(_) => {
                self.event(
                    false,
                    "SuccessfulCreate",
                    format!(
                        "create Pod {pod_name} in StatefulSet {} successful",
                        self.name
                    ),
                )
                .await;
                Ok(())
            }
            // The old pod under this name is still going away; the next sync retries.
            Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
            Err(e) => {
                self.event(
                    true,
                    "FailedCreate",
                    format!(
                        "create Pod {pod_name} in StatefulSet {} failed error: {}",
                        self.name,
                        api_message(&e)
                    ),
                )
                .await;
                Err(e.into())
            }
        }
    }

    async fn delete(&self, pod: &Pod) -> Result<(), Error> {
        let name = pod.name_any();
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: pod.metadata.uid.clone(),
                resource_version: None,
            }),
            ..Default::default()
        };
        match self.pods.delete(&name, &params).await {
            Ok(_) => {
                self.event(
                    false,
                    "SuccessfulDelete",
                    format!("delete Pod {name} in StatefulSet {} successful", self.name),
                )
                .await;
                Ok(())
            }
            Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(()),
            Err(e) => {
                self.event(
                    true,
                    "FailedDelete",
                    format!(
                        "delete Pod {name} in StatefulSet {} failed error: {}",
                        self.name,
                        api_message(&e)
                    ),
                )
                .await;
                Err(e.into())
            }
        }
    }

    fn policy(&self) -> retention::Policy {
        let p = self
            .set
            .spec
            .persistent_volume_claim_retention_policy
            .as_ref();
        let is_delete = |v: Option<&String>| v.map(String::as_str) == Some("Delete");
        retention::Policy {
            delete_when_deleted: is_delete(p.and_then(|p| p.when_deleted.as_ref())),
            delete_when_scaled: is_delete(p.and_then(|p| p.when_scaled.as_ref())),
        }
    }

    /// Brings every existing pod's claims' owner references in line with the retention
    /// policy, before any scale-down deletes a pod.
    async fn apply_retention(&self, owned: &[Pod], spec: &plan::Spec) -> Result<(), Error> {
        let has_templates = self
            .set
            .spec
            .volume_claim_templates
            .as_ref()
            .is_some_and(|t| !t.is_empty());
        if !has_templates {
            return Ok(());
        }
        let claims_api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &self.ns);
        let existing = claims_api.list(&ListParams::default()).await?.items;
        let policy = self.policy();
        let set_ref = retention::plain_ref("apps/v1", "StatefulSet", &self.name, &self.uid);
        for pod in owned
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            let Some(ordinal) = identity::ordinal_of(&self.name, &pod.name_any()) else {
                continue;
            };
            let in_range = ordinal >= spec.start && ordinal < spec.start + spec.replicas;
            let pod_ref = retention::plain_ref(
                "v1",
                "Pod",
                &pod.name_any(),
                pod.metadata.uid.as_deref().unwrap_or(""),
            );
            for (_, want) in identity::claims(self.set, ordinal) {
                let Some(claim) = existing
                    .iter()
                    .find(|c| c.metadata.name == want.metadata.name)
                else {
                    continue;
                };
                let current = claim.metadata.owner_references.clone().unwrap_or_default();
                let Some(refs) =
                    retention::desired_refs(&current, &set_ref, &pod_ref, in_range, policy)
                else {
                    continue;
                };
                let patch = json!({"metadata": {
                    "ownerReferences": refs,
                    "resourceVersion": claim.metadata.resource_version,
                }});
                match claims_api
                    .patch(
                        &claim.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(patch),
                    )
                    .await
                {
                    Ok(_) => {}
                    Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(())
    }
}

fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(ae) => ae.message.clone(),
        other => other.to_string(),
    }
}
