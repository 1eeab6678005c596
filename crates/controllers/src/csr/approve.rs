//! Upstream's csrapproving controller, for what it approves by default: kubelet client
//! certificates (signer `kubernetes.io/kube-apiserver-client-kubelet`). A request shaped
//! as one (pure, [`candidate`]) is approved when a SubjectAccessReview says its requestor
//! may create `certificatesigningrequests/selfnodeclient` (a node renewing its own) or
//! `certificatesigningrequests/nodeclient` (a bootstrap token joining a node), as the
//! default roles grant to `system:nodes` and `system:bootstrappers`.

use k8s_openapi::api::certificates::v1::CertificateSigningRequest;

pub const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";

/// What a CSR's subject says (parsed from its PEM by the caller).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub common_name: String,
    pub organizations: Vec<String>,
    /// Any subject alternative name at all.
    pub has_sans: bool,
}

/// Whether the request is shaped as a kubelet client certificate: `system:node:<name>` in
/// `system:nodes`, no alternative names, client usages only.
pub fn is_kubelet_client(subject: &Subject, usages: &[String]) -> Result<(), String> {
    if !subject.common_name.starts_with("system:node:") || subject.common_name.len() <= 12 {
        return Err("subject common name does not begin with \"system:node:\"".into());
    }
    if subject.organizations != ["system:nodes"] {
        return Err("subject organization is not system:nodes".into());
    }
    if subject.has_sans {
        return Err("subject alternative names are not allowed".into());
    }
    let allowed = ["digital signature", "key encipherment", "client auth"];
    if let Some(u) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
        return Err(format!("usage {u:?} is not allowed"));
    }
    if !usages.iter().any(|u| u == "client auth") {
        return Err("missing required usage \"client auth\"".into());
    }
    Ok(())
}

pub fn has_condition(csr: &CertificateSigningRequest, kind: &str) -> bool {
    csr.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == kind && c.status == "True"))
}

/// Which permissions would approve a request, in the order upstream asks for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The requestor is the node the certificate names.
    pub is_self: bool,
}

impl Candidate {
    /// `(subresource of certificatesigningrequests, approval message)`, in order.
    pub fn checks(&self) -> Vec<(&'static str, &'static str)> {
        let node = (
            "nodeclient",
            "Auto approving kubelet client certificate after SubjectAccessReview.",
        );
        if self.is_self {
            vec![
                (
                    "selfnodeclient",
                    "Auto approving self kubelet client certificate after SubjectAccessReview.",
                ),
                node,
            ]
        } else {
            vec![node]
        }
    }
}

/// Whether this CSR is a kubelet client request still waiting for a decision.
pub fn candidate(csr: &CertificateSigningRequest, subject: Option<&Subject>) -> Option<Candidate> {
    let spec = &csr.spec;
    if spec.signer_name != KUBELET_CLIENT
        || has_condition(csr, "Approved")
        || has_condition(csr, "Denied")
    {
        return None;
    }
    let subject = subject?;
    is_kubelet_client(subject, spec.usages.as_deref().unwrap_or_default()).ok()?;
    Some(Candidate {
        is_self: spec.username.as_deref() == Some(subject.common_name.as_str()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::certificates::v1::{
        CertificateSigningRequestCondition, CertificateSigningRequestSpec,
        CertificateSigningRequestStatus,
    };

    fn csr(
        signer: &str,
        user: &str,
        groups: &[&str],
        usages: &[&str],
    ) -> CertificateSigningRequest {
        CertificateSigningRequest {
            spec: CertificateSigningRequestSpec {
                signer_name: signer.into(),
                username: Some(user.into()),
                groups: Some(groups.iter().map(|g| g.to_string()).collect()),
                usages: Some(usages.iter().map(|u| u.to_string()).collect()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn decisions() {
        let node = Subject {
            common_name: "system:node:n1".into(),
            organizations: vec!["system:nodes".into()],
            has_sans: false,
        };
        let client = ["digital signature", "client auth"];
        let boot = ["system:bootstrappers", "system:authenticated"];
        let mut denied = csr(KUBELET_CLIENT, "system:bootstrap:abcdef", &boot, &client);
        denied.status = Some(CertificateSigningRequestStatus {
            conditions: Some(vec![CertificateSigningRequestCondition {
                type_: "Denied".into(),
                status: "True".into(),
                ..Default::default()
            }]),
            ..Default::default()
        });
        let other_cn = Subject {
            common_name: "alice".into(),
            ..node.clone()
        };
        let wrong_org = Subject {
            organizations: vec!["system:masters".into()],
            ..node.clone()
        };
        let with_sans = Subject {
            has_sans: true,
            ..node.clone()
        };
        let cases = [
            (
                "bootstrapper",
                csr(KUBELET_CLIENT, "system:bootstrap:abcdef", &boot, &client),
                Some(&node),
                Some(false),
            ),
            (
                "node renews itself",
                csr(KUBELET_CLIENT, "system:node:n1", &["system:nodes"], &client),
                Some(&node),
                Some(true),
            ),
            // Whether these may is the SubjectAccessReview's to say.
            (
                "another node",
                csr(KUBELET_CLIENT, "system:node:n2", &["system:nodes"], &client),
                Some(&node),
                Some(false),
            ),
            (
                "plain user",
                csr(KUBELET_CLIENT, "alice", &["devs"], &client),
                Some(&node),
                Some(false),
            ),
            (
                "other signer",
                csr(
                    "kubernetes.io/kube-apiserver-client",
                    "system:bootstrap:abcdef",
                    &boot,
                    &client,
                ),
                Some(&node),
                None,
            ),
            (
                "server usage",
                csr(
                    KUBELET_CLIENT,
                    "system:bootstrap:abcdef",
                    &boot,
                    &["client auth", "server auth"],
                ),
                Some(&node),
                None,
            ),
            (
                "no client auth",
                csr(
                    KUBELET_CLIENT,
                    "system:bootstrap:abcdef",
                    &boot,
                    &["digital signature"],
                ),
                Some(&node),
                None,
            ),
            (
                "not a node name",
                csr(KUBELET_CLIENT, "system:bootstrap:abcdef", &boot, &client),
                Some(&other_cn),
                None,
            ),
            (
                "wrong organization",
                csr(KUBELET_CLIENT, "system:bootstrap:abcdef", &boot, &client),
                Some(&wrong_org),
                None,
            ),
            (
                "alternative names",
                csr(KUBELET_CLIENT, "system:bootstrap:abcdef", &boot, &client),
                Some(&with_sans),
                None,
            ),
            (
                "unreadable request",
                csr(KUBELET_CLIENT, "system:bootstrap:abcdef", &boot, &client),
                None,
                None,
            ),
            ("already denied", denied, Some(&node), None),
        ];
        for (what, c, subject, want) in cases {
            let got = candidate(&c, subject).map(|c| c.is_self);
            assert_eq!(got, want, "{what}");
        }
    }
}
