//! Who is calling: the identity in a client certificate that chains to the cluster CA
//! (rustls has verified the chain). Authorization arrives with access control; until then
//! every authenticated or anonymous caller may do everything.

use rustls::pki_types::CertificateDer;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    pub name: String,
    pub groups: Vec<String>,
}

impl UserInfo {
    pub fn anonymous() -> UserInfo {
        UserInfo {
            name: "system:anonymous".into(),
            groups: vec!["system:unauthenticated".into()],
        }
    }

    /// CN is the user, each O a group, as upstream's x509 authenticator reads them.
    pub fn from_certificate(cert: &CertificateDer<'_>) -> Option<UserInfo> {
        let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
        let subject = parsed.subject();
        let name = subject
            .iter_common_name()
            .next()?
            .as_str()
            .ok()?
            .to_string();
        let mut groups: Vec<String> = subject
            .iter_organization()
            .filter_map(|o| o.as_str().ok().map(str::to_string))
            .collect();
        groups.push("system:authenticated".into());
        Some(UserInfo { name, groups })
    }
}
