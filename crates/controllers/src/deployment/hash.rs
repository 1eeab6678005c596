//! The `pod-template-hash`: a stable name for a pod template, upstream's `ComputeHash`
//! shape (fnv-1a 32 over the template, the collision count mixed in, the decimal digits
//! mapped onto the safe-encoding alphabet). We hash the template's JSON rather than Go's
//! printed struct, so values differ from upstream's, but they are stable across restarts:
//! k8s-openapi serializes struct fields in a fixed order and maps sorted by key.

use k8s_openapi::api::core::v1::PodTemplateSpec;

/// Upstream's `rand.SafeEncodeString` alphabet: no vowels, no look-alike digits.
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

const FNV_OFFSET: u32 = 2_166_136_261;
const FNV_PRIME: u32 = 16_777_619;

fn fnv1a32(state: u32, bytes: &[u8]) -> u32 {
    bytes
        .iter()
        .fold(state, |h, b| (h ^ u32::from(*b)).wrapping_mul(FNV_PRIME))
}

/// Maps every character of `s` onto the safe alphabet by its code point.
pub fn safe_encode(s: &str) -> String {
    s.chars()
        .map(|c| char::from(ALPHANUMS[(c as usize) % ALPHANUMS.len()]))
        .collect()
}

/// The hash of raw template bytes plus the collision count (as upstream, written as 8
/// little-endian bytes of which the upper 4 are zero).
pub fn hash_bytes(template: &[u8], collision_count: Option<i32>) -> String {
    let mut h = fnv1a32(FNV_OFFSET, template);
    if let Some(c) = collision_count {
        let mut buf = [0u8; 8];
        buf[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h = fnv1a32(h, &buf);
    }
    safe_encode(&h.to_string())
}

/// The `pod-template-hash` label value for a Deployment's template.
pub fn compute(template: &PodTemplateSpec, collision_count: Option<i32>) -> String {
    // Serializing a k8s-openapi struct cannot fail (no non-string map keys).
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    hash_bytes(&bytes, collision_count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    #[test]
    fn fnv_and_encoding_table() {
        // fnv-1a 32 reference values.
        let cases: &[(&[u8], u32)] = &[
            (b"", 0x811c_9dc5),
            (b"a", 0xe40c_292c),
            (b"foobar", 0xbf9c_f968),
        ];
        for (input, want) in cases {
            assert_eq!(fnv1a32(FNV_OFFSET, input), *want, "{input:?}");
        }
        let enc: &[(&str, &str)] = &[("0", "4"), ("9", "f"), ("1234567890", "56789bcdf4")];
        for (input, want) in enc {
            assert_eq!(safe_encode(input), *want, "{input}");
        }
    }

    #[test]
    fn hash_is_stable_and_collision_count_changes_it() {
        let t = |app: &str| PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some([("app".to_string(), app.to_string())].into()),
                ..Default::default()
            }),
            spec: None,
        };
        let a = compute(&t("web"), None);
        assert_eq!(a, compute(&t("web"), None));
        assert_ne!(a, compute(&t("db"), None));
        assert_ne!(a, compute(&t("web"), Some(1)));
        assert_eq!(compute(&t("web"), Some(1)), compute(&t("web"), Some(1)));
        assert!(a.bytes().all(|b| ALPHANUMS.contains(&b)), "{a}");
        // fnv-1a 32 of `{"metadata":{"labels":{"app":"web"}}}`, safe-encoded.
        assert_eq!(a, "65f44fcd74");
    }
}
