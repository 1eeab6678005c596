//! `--tls-min-version` and `--tls-cipher-suites`, named as upstream names them (Go's
//! `crypto/tls` constants and IANA suite names), mapped onto what rustls offers.
//!
//! rustls implements only AEAD suites with forward secrecy, so the CBC, RC4, 3DES and
//! static-RSA suites upstream still accepts are refused by name here rather than silently
//! dropped. As in Go, TLS 1.3 suites are not configurable: their names are accepted and
//! every TLS 1.3 suite stays enabled.

use rustls::crypto::CryptoProvider;
use rustls::{CipherSuite, SupportedProtocolVersion};

/// `--tls-min-version`: the protocol versions it leaves enabled.
pub fn min_version(name: &str) -> Result<&'static [&'static SupportedProtocolVersion], String> {
    static TLS12_UP: [&SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    static TLS13_ONLY: [&SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
    match name {
        "" | "VersionTLS12" => Ok(&TLS12_UP),
        "VersionTLS13" => Ok(&TLS13_ONLY),
        "VersionTLS10" | "VersionTLS11" => Err(format!(
            "--tls-min-version {name}: TLS 1.0 and 1.1 are not offered (use VersionTLS12 or VersionTLS13)"
        )),
        _ => Err(format!(
            "--tls-min-version {name}: unknown (VersionTLS12 or VersionTLS13)"
        )),
    }
}

/// The TLS 1.2 suites rustls (ring) implements, by upstream's names; the ChaCha20 ones
/// also go by Go's older names without `_SHA256`.
const TLS12_SUITES: &[(&str, CipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.3 names: accepted, without effect (every TLS 1.3 suite stays on).
const TLS13_NAMES: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites upstream knows that rustls does not implement.
const NOT_OFFERED: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// `--tls-cipher-suites`: the TLS 1.2 suites to allow, or `None` (empty flag) for rustls's
/// defaults.
pub fn cipher_suites(names: &[String]) -> Result<Option<Vec<CipherSuite>>, String> {
    if names.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        if let Some((_, suite)) = TLS12_SUITES.iter().find(|(n, _)| *n == name) {
            if !out.contains(suite) {
                out.push(*suite);
            }
        } else if TLS13_NAMES.contains(&name) {
            continue;
        } else if NOT_OFFERED.contains(&name) {
            return Err(format!(
                "--tls-cipher-suites: {name} is not offered (only ECDHE suites with AES-GCM or ChaCha20-Poly1305)"
            ));
        } else {
            let known: Vec<&str> = TLS12_SUITES.iter().map(|(n, _)| *n).collect();
            return Err(format!(
                "--tls-cipher-suites: unknown cipher suite {name} (known: {})",
                known.join(", ")
            ));
        }
    }
    Ok(Some(out))
}

/// `base` keeping every TLS 1.3 suite and, of its TLS 1.2 suites, those in `allowed`.
pub fn restrict(mut base: CryptoProvider, allowed: Option<&[CipherSuite]>) -> CryptoProvider {
    if let Some(allowed) = allowed {
        base.cipher_suites.retain(|s| match s {
            rustls::SupportedCipherSuite::Tls13(_) => true,
            rustls::SupportedCipherSuite::Tls12(_) => allowed.contains(&s.suite()),
        });
    }
    base
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    fn check(flag: &str, want: Expect) {
        let names: Vec<String> = if flag.is_empty() {
            Vec::new()
        } else {
            flag.split(',').map(str::to_string).collect()
        };
        let got = match cipher_suites(&names) {
            Ok(None) => "defaults".to_string(),
            Ok(Some(suites)) => {
                let provider = restrict(rustls::crypto::ring::default_provider(), Some(&suites));
                provider
                    .cipher_suites
                    .iter()
                    .map(|s| format!("{:?}", s.suite()))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
            Err(e) => e,
        };
        want.assert_eq(&got);
    }

    #[test]
    fn cipher_suite_names() {
        check("", expect!["defaults"]);
        check(
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
            expect!["TLS13_AES_256_GCM_SHA384 TLS13_AES_128_GCM_SHA256 TLS13_CHACHA20_POLY1305_SHA256 TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"],
        );
        check(
            "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_AES_128_GCM_SHA256",
            expect!["TLS13_AES_256_GCM_SHA384 TLS13_AES_128_GCM_SHA256 TLS13_CHACHA20_POLY1305_SHA256 TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"],
        );
        check(
            "TLS_RSA_WITH_AES_128_CBC_SHA",
            expect!["--tls-cipher-suites: TLS_RSA_WITH_AES_128_CBC_SHA is not offered (only ECDHE suites with AES-GCM or ChaCha20-Poly1305)"],
        );
        check(
            "TLS_BOGUS",
            expect!["--tls-cipher-suites: unknown cipher suite TLS_BOGUS (known: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305)"],
        );
    }

    #[test]
    fn min_versions() {
        let got: Vec<String> = ["", "VersionTLS12", "VersionTLS13", "VersionTLS11", "TLS13"]
            .iter()
            .map(|n| match min_version(n) {
                Ok(v) => format!(
                    "{n:?}: {:?}",
                    v.iter().map(|v| v.version).collect::<Vec<_>>()
                ),
                Err(e) => format!("{n:?}: {e}"),
            })
            .collect();
        expect![[r#"
            "": [TLSv1_3, TLSv1_2]
            "VersionTLS12": [TLSv1_3, TLSv1_2]
            "VersionTLS13": [TLSv1_3]
            "VersionTLS11": --tls-min-version VersionTLS11: TLS 1.0 and 1.1 are not offered (use VersionTLS12 or VersionTLS13)
            "TLS13": --tls-min-version TLS13: unknown (VersionTLS12 or VersionTLS13)"#]].assert_eq(&got.join("\n"));
    }
}
