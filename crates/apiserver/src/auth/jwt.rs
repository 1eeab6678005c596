//! ES256 JSON Web Tokens (compact form), signed and checked with ring: the format of
//! service account tokens. Only the signature and the shape are checked here; what the
//! claims mean is `service_account`'s business.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _, UnparsedPublicKey};
use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("malformed token")]
    Malformed,
    #[error("unsupported signing algorithm {0:?}")]
    Algorithm(String),
    #[error("invalid signature")]
    Signature,
    #[error("signing key: {0}")]
    Key(String),
}

/// A P-256 key that signs and verifies tokens.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
    /// Upstream's key id: the SHA-256 of the public key's SubjectPublicKeyInfo, base64url.
    kid: String,
}

impl SigningKey {
    /// `pkcs8`: the private key in PKCS#8 DER; `spki`: its public half as
    /// SubjectPublicKeyInfo DER (for the key id).
    pub fn from_pkcs8(pkcs8: &[u8], spki: &[u8]) -> Result<SigningKey, JwtError> {
        let rng = SystemRandom::new();
        let pair =
            EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
                .map_err(|e| JwtError::Key(e.to_string()))?;
        let kid = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, spki));
        Ok(SigningKey { pair, rng, kid })
    }

    pub fn sign(&self, claims: &Value) -> Result<String, JwtError> {
        let header = json!({"alg": "ES256", "kid": self.kid});
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let sig = self
            .pair
            .sign(&self.rng, input.as_bytes())
            .map_err(|e| JwtError::Key(e.to_string()))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref())))
    }

    /// The claims of a token this key signed.
    pub fn verify(&self, token: &str) -> Result<Value, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|_| JwtError::Malformed);
        let header: Value = serde_json::from_slice(&decode(h)?).map_err(|_| JwtError::Malformed)?;
        let alg = header.get("alg").and_then(Value::as_str).unwrap_or("");
        if alg != "ES256" {
            return Err(JwtError::Algorithm(alg.to_string()));
        }
        let public = UnparsedPublicKey::new(
            &signature::ECDSA_P256_SHA256_FIXED,
            self.pair.public_key().as_ref(),
        );
        let signed = &token[..h.len() + 1 + c.len()];
        public
            .verify(signed.as_bytes(), &decode(s)?)
            .map_err(|_| JwtError::Signature)?;
        let claims: Value = serde_json::from_slice(&decode(c)?).map_err(|_| JwtError::Malformed)?;
        if !claims.is_object() {
            return Err(JwtError::Malformed);
        }
        Ok(claims)
    }

    /// The public key as a JSON Web Key (RFC 7517), as `/openid/v1/jwks` lists it.
    pub fn jwk(&self) -> Value {
        // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
        let point = self.pair.public_key().as_ref();
        let (x, y) = if point.len() == 65 {
            (&point[1..33], &point[33..65])
        } else {
            (&point[..0], &point[..0])
        };
        json!({
            "use": "sig",
            "kty": "EC",
            "kid": self.kid,
            "crv": "P-256",
            "alg": "ES256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        })
    }
}

#[cfg(test)]
pub(crate) fn test_key() -> SigningKey {
    let pair = rcgen::KeyPair::generate().expect("key");
    use rcgen::PublicKeyData;
    SigningKey::from_pkcs8(&pair.serialize_der(), &pair.subject_public_key_info()).expect("key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tampering() {
        let key = test_key();
        let other = test_key();
        let token = key.sign(&json!({"sub": "me"})).expect("sign");
        assert_eq!(key.verify(&token), Ok(json!({"sub": "me"})));
        let (head, rest) = token.split_once('.').expect("dot");
        let (_, sig) = rest.split_once('.').expect("dot");
        let forged = format!(
            "{head}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#)
        );
        let none_alg = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            URL_SAFE_NO_PAD.encode(r#"{"sub":"admin"}"#)
        );
        let cases = [
            (forged.as_str(), Err(JwtError::Signature)),
            (none_alg.as_str(), Err(JwtError::Algorithm("none".into()))),
            ("abc", Err(JwtError::Malformed)),
            ("a.b.c.d", Err(JwtError::Malformed)),
            ("!!.??.**", Err(JwtError::Malformed)),
        ];
        for (input, want) in cases {
            assert_eq!(key.verify(input), want, "{input}");
        }
        assert_eq!(other.verify(&token), Err(JwtError::Signature));
        let jwk = key.jwk();
        assert_eq!(jwk["kid"].as_str().map(str::len), Some(43));
        assert_eq!(jwk["x"].as_str().map(str::len), Some(43));
    }
}
