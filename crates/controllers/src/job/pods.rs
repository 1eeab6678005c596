//! The pods a Job creates from its template.

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::ResourceExt;

use super::indexed::{COMPLETION_INDEX, INDEX_FAILURE_COUNT};
use super::plan::{NewPod, TRACKING_FINALIZER};

pub fn controller_ref(job: &Job) -> OwnerReference {
    OwnerReference {
        api_version: "batch/v1".into(),
        kind: "Job".into(),
        name: job.name_any(),
        uid: job.uid().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// A pod from the template, owned by the Job and held by the tracking finalizer until it
/// is counted; in Indexed mode with its index as annotation, label, hostname and
/// `JOB_COMPLETION_INDEX`.
pub fn from_template(job: &Job, new: &NewPod, per_index_backoff: bool) -> Pod {
    let spec = job.spec.clone().unwrap_or_default();
    let template = spec.template;
    let tmeta = template.metadata.unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let mut pod_spec = template.spec.unwrap_or_default();
    let mut generate_name = format!("{}-", job.name_any());
    if let Some(ix) = new.index {
        annotations.insert(COMPLETION_INDEX.into(), ix.to_string());
        labels.insert(COMPLETION_INDEX.into(), ix.to_string());
        if per_index_backoff {
            annotations.insert(INDEX_FAILURE_COUNT.into(), new.index_failures.to_string());
        }
        generate_name = format!("{}-{ix}-", job.name_any());
        if pod_spec.hostname.is_none() {
            pod_spec.hostname = Some(format!("{}-{ix}", job.name_any()));
        }
        let env = EnvVar {
            name: "JOB_COMPLETION_INDEX".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector {
                    api_version: None,
                    field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                }),
                ..Default::default()
            }),
        };
        let containers = pod_spec
            .containers
            .iter_mut()
            .chain(pod_spec.init_containers.iter_mut().flatten());
        for c in containers {
            let envs = c.env.get_or_insert_with(Vec::new);
            if !envs.iter().any(|e| e.name == env.name) {
                envs.push(env.clone());
            }
        }
    }
    let mut finalizers = tmeta.finalizers.unwrap_or_default();
    finalizers.push(TRACKING_FINALIZER.into());
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.namespace(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            finalizers: Some(finalizers),
            owner_references: Some(vec![controller_ref(job)]),
            ..Default::default()
        },
        spec: Some(pod_spec),
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn indexed_pod() {
        let job: Job = serde_json::from_value(json!({
            "metadata": {"name": "j", "namespace": "ns", "uid": "u"},
            "spec": {"template": {
                "metadata": {"labels": {"batch.kubernetes.io/job-name": "j"}},
                "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x"}]},
            }},
        }))
        .unwrap();
        let pod = from_template(
            &job,
            &NewPod {
                index: Some(2),
                index_failures: 1,
            },
            true,
        );
        let got = serde_json::to_value(&pod).unwrap();
        expect_test::expect![[r#"{"apiVersion":"v1","kind":"Pod","metadata":{"annotations":{"batch.kubernetes.io/job-completion-index":"2","batch.kubernetes.io/job-index-failure-count":"1"},"finalizers":["batch.kubernetes.io/job-tracking"],"generateName":"j-2-","labels":{"batch.kubernetes.io/job-completion-index":"2","batch.kubernetes.io/job-name":"j"},"namespace":"ns","ownerReferences":[{"apiVersion":"batch/v1","blockOwnerDeletion":true,"controller":true,"kind":"Job","name":"j","uid":"u"}]},"spec":{"containers":[{"env":[{"name":"JOB_COMPLETION_INDEX","valueFrom":{"fieldRef":{"fieldPath":"metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}],"image":"x","name":"c"}],"hostname":"j-2","restartPolicy":"Never"}}"#]]
        .assert_eq(&got.to_string());
    }
}
