//! Certificate signing requests: the approver (`approve.rs`, upstream's csrapproving for
//! kubelet client certificates) and the signer (`sign.rs`, upstream's csrsigning with the
//! cluster CA) as one controller over CertificateSigningRequests. Approval goes through
//! the `approval` subresource and the certificate through `status`, as upstream's do.

pub mod approve;
pub mod sign;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::certificates::v1::{
    CertificateSigningRequest, CertificateSigningRequestCondition, CertificateSigningRequestStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::ByteString;
use kube::api::{Api, PostParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::Error;

struct Ctx {
    client: Client,
    api: Api<CertificateSigningRequest>,
    signer: Option<sign::Signer>,
}

/// `ca_key_pem` empty: approve only, sign nothing.
pub async fn run(client: Client, ca_pem: String, ca_key_pem: String) {
    let signer = if ca_key_pem.is_empty() {
        None
    } else {
        match sign::Signer::new(&ca_pem, &ca_key_pem) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::error!(error = %e, "cluster CA unusable; certificate signing is off");
                None
            }
        }
    };
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    Controller::new(api.clone(), watcher::Config::default())
        .run(
            reconcile,
            error_policy,
            Arc::new(Ctx {
                client,
                api,
                signer,
            }),
        )
        .for_each(|_| async {})
        .await;
}

fn error_policy(csr: Arc<CertificateSigningRequest>, err: &Error, _: Arc<Ctx>) -> Action {
    tracing::warn!(csr = %csr.name_any(), error = %err, "certificate signing request not handled; retrying");
    Action::requeue(Duration::from_secs(5))
}

/// The first of the candidate's permissions a SubjectAccessReview grants the requestor.
async fn approval(
    client: &Client,
    csr: &CertificateSigningRequest,
    candidate: &approve::Candidate,
) -> Result<Option<&'static str>, Error> {
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let spec = &csr.spec;
    for (subresource, message) in candidate.checks() {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: spec.username.clone(),
                uid: spec.uid.clone(),
                groups: spec.groups.clone(),
                extra: spec.extra.clone(),
                resource_attributes: Some(ResourceAttributes {
                    group: Some("certificates.k8s.io".into()),
                    resource: Some("certificatesigningrequests".into()),
                    subresource: Some(subresource.into()),
                    verb: Some("create".into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = reviews.create(&PostParams::default(), &review).await?;
        if answer.status.is_some_and(|s| s.allowed) {
            return Ok(Some(message));
        }
    }
    Ok(None)
}

fn condition(kind: &str, reason: &str, message: &str) -> CertificateSigningRequestCondition {
    let now = Time(jiff::Timestamp::now());
    CertificateSigningRequestCondition {
        type_: kind.into(),
        status: "True".into(),
        reason: Some(reason.into()),
        message: Some(message.into()),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

fn push_condition(csr: &mut CertificateSigningRequest, c: CertificateSigningRequestCondition) {
    csr.status
        .get_or_insert_with(CertificateSigningRequestStatus::default)
        .conditions
        .get_or_insert_with(Vec::new)
        .push(c);
}

async fn reconcile(csr: Arc<CertificateSigningRequest>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let name = csr.name_any();
    let pem = String::from_utf8_lossy(&csr.spec.request.0).to_string();
    let parsed = sign::parse(&pem);
    let approval = match approve::candidate(&csr, parsed.as_ref().map(|(_, s)| s)) {
        Some(c) => approval(&ctx.client, &csr, &c).await?,
        None => None,
    };
    if let Some(message) = approval {
        let mut next = (*csr).clone();
        push_condition(&mut next, condition("Approved", "AutoApproved", message));
        ctx.api
            .replace_subresource::<CertificateSigningRequest>(
                "approval",
                &name,
                &PostParams::default(),
                &next,
            )
            .await?;
        tracing::info!(csr = %name, "approved");
        return Ok(Action::await_change());
    }
    let Some(signer) = &ctx.signer else {
        return Ok(Action::await_change());
    };
    let issued = csr
        .status
        .as_ref()
        .and_then(|s| s.certificate.as_ref())
        .is_some_and(|c| !c.0.is_empty());
    if !approve::has_condition(&csr, "Approved")
        || approve::has_condition(&csr, "Denied")
        || approve::has_condition(&csr, "Failed")
        || issued
        || !sign::handles(&csr.spec.signer_name)
    {
        return Ok(Action::await_change());
    }
    let mut next = (*csr).clone();
    match signer.sign(
        &pem,
        &csr.spec.signer_name,
        csr.spec.usages.as_deref().unwrap_or_default(),
        csr.spec.expiration_seconds.map(i64::from),
        jiff::Timestamp::now().as_second(),
    ) {
        Ok(cert) => {
            next.status
                .get_or_insert_with(CertificateSigningRequestStatus::default)
                .certificate = Some(ByteString(cert.into_bytes()));
            tracing::info!(csr = %name, "certificate issued");
        }
        Err(refusal) => {
            push_condition(
                &mut next,
                condition("Failed", "SignerValidationFailure", &refusal.0),
            );
            tracing::warn!(csr = %name, why = %refusal.0, "certificate refused");
        }
    }
    ctx.api
        .replace_status(&name, &PostParams::default(), &next)
        .await?;
    Ok(Action::await_change())
}
