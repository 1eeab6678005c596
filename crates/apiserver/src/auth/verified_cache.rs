//! Service-account tokens whose signature and claims were verified in the last few seconds,
//! so a client sending the same token on every request costs one ES256 verification per
//! [`TTL`] instead of one per request (upstream caches authenticated tokens for 10 s too).
//!
//! Only the cryptographic part is cached: that the service account, and the pod, Secret or
//! node a token is bound to, still exist is checked on every request, so a deleted pod's
//! token stops working at once, as without the cache.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::service_account::Verified;

pub const TTL: Duration = Duration::from_secs(10);
/// Past this many entries the cache starts over (a token storm must not grow it).
const MAX_ENTRIES: usize = 10_000;

type Digest = [u8; 32];

#[derive(Default)]
pub struct VerifiedCache {
    entries: Mutex<HashMap<Digest, (Verified, Instant)>>,
}

fn digest(token: &str) -> Digest {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

impl VerifiedCache {
    /// The cached verification of `token`, if fresh and the token has not expired by `now`.
    pub fn get(&self, token: &str, now: i64) -> Option<Verified> {
        let entries = self.entries.lock().ok()?;
        let (v, at) = entries.get(&digest(token))?;
        (at.elapsed() < TTL && v.expires > now).then(|| v.clone())
    }

    pub fn put(&self, token: &str, verified: &Verified) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(digest(token), (verified.clone(), Instant::now()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::service_account::Bound;
    use super::*;

    fn verified(expires: i64) -> Verified {
        Verified {
            expires,
            namespace: "ns".into(),
            service_account: Bound {
                name: "sa".into(),
                uid: "u".into(),
            },
            pod: None,
            secret: None,
            node: None,
            id: None,
        }
    }

    #[test]
    fn hits_until_expiry() {
        let c = VerifiedCache::default();
        assert!(c.get("t", 100).is_none());
        c.put("t", &verified(200));
        assert_eq!(c.get("t", 100), Some(verified(200)));
        assert!(c.get("t", 200).is_none(), "expired token");
        assert!(c.get("other", 100).is_none());
    }
}
