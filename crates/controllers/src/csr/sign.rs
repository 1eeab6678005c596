//! Upstream's csrsigning controller: approved requests for the built-in signers (the two
//! client signers and `kubelet-serving`) get a certificate from the cluster CA, valid from five minutes ago (clock skew) for the
//! requested duration, at most `--cluster-signing-duration` (a year).

use rcgen::{
    CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SerialNumber,
};

use super::approve::{is_kubelet_client, Subject, KUBELET_CLIENT};

pub const API_CLIENT: &str = "kubernetes.io/kube-apiserver-client";
/// A kubelet's serving certificate; never approved automatically (as upstream).
pub const KUBELET_SERVING: &str = "kubernetes.io/kubelet-serving";
pub const MAX_SECONDS: i64 = 365 * 24 * 3600;
const BACKDATE_SECONDS: i64 = 300;

pub struct Signer {
    issuer: Issuer<'static, KeyPair>,
}

/// Why a request cannot be signed (the CSR gets a Failed condition with it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

/// A CSR's PEM, parsed (its signature checked) into what signing and approval need.
pub fn parse(pem: &str) -> Option<(CertificateSigningRequestParams, Subject)> {
    let req = CertificateSigningRequestParams::from_pem(pem).ok()?;
    let dn = &req.params.distinguished_name;
    let mut subject = Subject {
        has_sans: !req.params.subject_alt_names.is_empty(),
        ..Subject::default()
    };
    for (kind, value) in dn.iter() {
        match kind {
            DnType::CommonName => subject.common_name = dn_text(value),
            DnType::OrganizationName => subject.organizations.push(dn_text(value)),
            _ => {}
        }
    }
    Some((req, subject))
}

fn dn_text(v: &rcgen::DnValue) -> String {
    match v {
        rcgen::DnValue::Utf8String(s) => s.clone(),
        rcgen::DnValue::PrintableString(s) => s.as_str().to_string(),
        rcgen::DnValue::Ia5String(s) => s.as_str().to_string(),
        rcgen::DnValue::TeletexString(s) => s.as_str().to_string(),
        _ => String::new(),
    }
}

/// Whether this controller signs for `signer` at all (others are left to their signers).
pub fn handles(signer: &str) -> bool {
    signer == KUBELET_CLIENT || signer == API_CLIENT || signer == KUBELET_SERVING
}

/// Upstream's rules for `kubelet-serving`: a node's subject, at least one DNS or IP name and
/// no other kind, serving usages only.
fn check_kubelet_serving(
    subject: &Subject,
    sans: &[rcgen::SanType],
    usages: &[String],
) -> Result<(), Refusal> {
    let refuse = |why: &str| Err(Refusal(why.to_string()));
    if !subject.common_name.starts_with("system:node:") || subject.common_name.len() <= 12 {
        return refuse("subject common name does not begin with \"system:node:\"");
    }
    if subject.organizations != ["system:nodes"] {
        return refuse("subject organization is not system:nodes");
    }
    if sans
        .iter()
        .any(|s| !matches!(s, rcgen::SanType::DnsName(_) | rcgen::SanType::IpAddress(_)))
    {
        return refuse("only DNS and IP subject alternative names are allowed");
    }
    if sans.is_empty() {
        return refuse("DNS or IP subjectAltName is required");
    }
    let allowed = ["digital signature", "key encipherment", "server auth"];
    if let Some(u) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
        return Err(Refusal(format!("usage {u:?} is not allowed")));
    }
    if !usages.iter().any(|u| u == "server auth") {
        return refuse("usages must include \"server auth\"");
    }
    Ok(())
}

impl Signer {
    pub fn new(ca_cert_pem: &str, ca_key_pem: &str) -> Result<Signer, rcgen::Error> {
        let key = KeyPair::from_pem(ca_key_pem)?;
        Ok(Signer {
            issuer: Issuer::from_ca_cert_pem(ca_cert_pem, key)?,
        })
    }

    /// A certificate (PEM) for the request, or why not.
    pub fn sign(
        &self,
        pem: &str,
        signer: &str,
        usages: &[String],
        expiration_seconds: Option<i64>,
        now: i64,
    ) -> Result<String, Refusal> {
        let (mut req, subject) =
            parse(pem).ok_or_else(|| Refusal("unable to parse the certificate request".into()))?;
        match signer {
            KUBELET_CLIENT => is_kubelet_client(&subject, usages).map_err(Refusal)?,
            API_CLIENT => {
                let allowed = ["digital signature", "key encipherment", "client auth"];
                if let Some(u) = usages.iter().find(|u| !allowed.contains(&u.as_str())) {
                    return Err(Refusal(format!(
                        "usage {u:?} is not allowed for this signer"
                    )));
                }
            }
            KUBELET_SERVING => {
                check_kubelet_serving(&subject, &req.params.subject_alt_names, usages)?
            }
            _ => return Err(Refusal(format!("signer {signer:?} is not handled here"))),
        }
        let seconds = expiration_seconds
            .map(|s| s.max(600))
            .unwrap_or(MAX_SECONDS)
            .min(MAX_SECONDS);
        let p = &mut req.params;
        p.is_ca = IsCa::ExplicitNoCa;
        p.not_before = ts(now - BACKDATE_SECONDS);
        p.not_after = ts(now + seconds);
        p.key_usages = usages
            .iter()
            .filter_map(|u| match u.as_str() {
                "digital signature" => Some(KeyUsagePurpose::DigitalSignature),
                "key encipherment" => Some(KeyUsagePurpose::KeyEncipherment),
                _ => None,
            })
            .collect();
        p.extended_key_usages = usages
            .iter()
            .filter_map(|u| match u.as_str() {
                "client auth" => Some(ExtendedKeyUsagePurpose::ClientAuth),
                "server auth" => Some(ExtendedKeyUsagePurpose::ServerAuth),
                _ => None,
            })
            .collect();
        p.serial_number = Some(SerialNumber::from_slice(&rand_serial()));
        p.use_authority_key_identifier_extension = true;
        req.signed_by(&self.issuer)
            .map(|c| c.pem())
            .map_err(|e| Refusal(e.to_string()))
    }
}

fn ts(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

fn rand_serial() -> [u8; 16] {
    let mut b: [u8; 16] = rand::random();
    // Positive, as DER serials must be.
    b[0] &= 0x7f;
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca() -> (String, String) {
        let key = KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::default();
        p.distinguished_name.push(DnType::CommonName, "test-ca");
        p.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
        let cert = p.self_signed(&key).expect("ca");
        (cert.pem(), key.serialize_pem())
    }

    fn request(cn: &str, org: &str, san: bool) -> String {
        let key = KeyPair::generate().expect("key");
        let mut p = rcgen::CertificateParams::new(if san {
            vec!["n1.example".to_string()]
        } else {
            vec![]
        })
        .expect("params");
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.distinguished_name.push(DnType::OrganizationName, org);
        p.serialize_request(&key).expect("csr").pem().expect("pem")
    }

    #[test]
    fn signing_table() {
        let (ca_pem, ca_key) = ca();
        let signer = Signer::new(&ca_pem, &ca_key).expect("signer");
        let client: Vec<String> = vec!["digital signature".into(), "client auth".into()];
        let server: Vec<String> = vec!["server auth".into()];
        let serving: Vec<String> = vec!["digital signature".into(), "server auth".into()];
        let node = request("system:node:n1", "system:nodes", false);
        let cases = [
            (
                "kubelet client",
                node.clone(),
                KUBELET_CLIENT,
                client.clone(),
                Ok(()),
            ),
            (
                "kubelet with a SAN",
                request("system:node:n1", "system:nodes", true),
                KUBELET_CLIENT,
                client.clone(),
                Err("subject alternative names are not allowed"),
            ),
            (
                "kubelet not a node",
                request("alice", "devs", false),
                KUBELET_CLIENT,
                client.clone(),
                Err("subject common name does not begin with \"system:node:\""),
            ),
            (
                "api client",
                request("alice", "devs", false),
                API_CLIENT,
                client.clone(),
                Ok(()),
            ),
            (
                "api client serving",
                request("alice", "devs", false),
                API_CLIENT,
                server,
                Err("usage \"server auth\" is not allowed for this signer"),
            ),
            (
                "kubelet serving",
                request("system:node:n1", "system:nodes", true),
                KUBELET_SERVING,
                serving.clone(),
                Ok(()),
            ),
            (
                "kubelet serving without names",
                node.clone(),
                KUBELET_SERVING,
                serving.clone(),
                Err("DNS or IP subjectAltName is required"),
            ),
            (
                "kubelet serving for a client",
                request("system:node:n1", "system:nodes", true),
                KUBELET_SERVING,
                client.clone(),
                Err("usage \"client auth\" is not allowed"),
            ),
            (
                "kubelet serving not a node",
                request("alice", "system:nodes", true),
                KUBELET_SERVING,
                serving.clone(),
                Err("subject common name does not begin with \"system:node:\""),
            ),
            (
                "garbage",
                "not pem".to_string(),
                API_CLIENT,
                client.clone(),
                Err("unable to parse the certificate request"),
            ),
        ];
        for (what, pem, signer_name, usages, want) in cases {
            let got = signer.sign(&pem, signer_name, &usages, Some(3600), 1_800_000_000);
            assert_eq!(
                got.as_ref().map(|_| ()).map_err(|r| r.0.as_str()),
                want,
                "{what}"
            );
        }
        let pem = signer
            .sign(&node, KUBELET_CLIENT, &client, Some(3600), 1_800_000_000)
            .expect("cert");
        let der = rustls_pemfile_like(&pem);
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("x509");
        assert_eq!(cert.validity().not_before.timestamp(), 1_800_000_000 - 300);
        assert_eq!(cert.validity().not_after.timestamp(), 1_800_000_000 + 3600);
        assert_eq!(
            cert.subject().to_string(),
            "CN=system:node:n1, O=system:nodes"
        );
        assert_eq!(cert.issuer().to_string(), "CN=test-ca");
    }

    fn rustls_pemfile_like(pem: &str) -> Vec<u8> {
        use base64::Engine;
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(body)
            .expect("base64")
    }
}
