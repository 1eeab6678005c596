//! Client certificates are judged per request, not in the TLS handshake: upstream accepts any
//! certificate at the TLS layer and its x509 authenticator answers one that does not chain to
//! the cluster CA, or has expired, with 401 Unauthorized. A handshake failure would instead
//! leave kubectl with a bare TLS error. Possession of the key is still proven in the
//! handshake (the CertificateVerify signature is checked by the wrapped verifier).

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use super::UserInfo;

/// A presented certificate that does not authenticate: every request on the connection is
/// answered 401.
#[derive(Debug, Clone, Copy)]
pub struct InvalidClientCert;

/// Asks for a client certificate and takes any, leaving the chain to [`identify`].
#[derive(Debug)]
pub struct DeferredVerifier {
    chain: Arc<dyn ClientCertVerifier>,
}

impl DeferredVerifier {
    /// `chain` checks that a certificate chains to the cluster CA and is current.
    pub fn new(chain: Arc<dyn ClientCertVerifier>) -> DeferredVerifier {
        DeferredVerifier { chain }
    }

    /// Who the connection's certificate names; `Err` if it does not authenticate.
    pub fn identify(
        &self,
        certs: Option<&[CertificateDer<'static>]>,
    ) -> Result<Option<UserInfo>, InvalidClientCert> {
        let Some((end_entity, intermediates)) = certs.and_then(|c| c.split_first()) else {
            return Ok(None);
        };
        self.chain
            .verify_client_cert(end_entity, intermediates, UnixTime::now())
            .map_err(|_| InvalidClientCert)?;
        UserInfo::from_certificate(end_entity)
            .map(Some)
            .ok_or(InvalidClientCert)
    }
}

impl ClientCertVerifier for DeferredVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain.supported_verify_schemes()
    }
}
