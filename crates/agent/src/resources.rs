//! A container's requests and limits as CRI Linux resources (upstream's conversion: CPU
//! shares from the request, a CFS quota per 100 ms period from the limit, the memory limit
//! in bytes). Pure.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Container;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::cri::v1 as cri;

const CPU_PERIOD_US: i64 = 100_000;
const MIN_SHARES: i64 = 2;
/// The smallest quota the kernel accepts (1 ms).
const MIN_QUOTA_US: i64 = 1_000;

/// A quantity in thousandths (`500m` → 500, `2` → 2000, `1Ki` → 1_024_000), or None when it
/// does not parse.
pub fn milli_value(q: &str) -> Option<i128> {
    let q = q.trim();
    let split = q
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(q.len());
    let (num, suffix) = q.split_at(split);
    let scale: i128 = match suffix {
        "" => 1000,
        "m" => 1,
        "k" => 1_000_000,
        "M" => 1_000_000_000,
        "G" => 1_000_000_000_000,
        "T" => 1_000_000_000_000_000,
        "Ki" => 1024 * 1000,
        "Mi" => 1024 * 1024 * 1000,
        "Gi" => 1024 * 1024 * 1024 * 1000,
        "Ti" => 1024_i128.pow(4) * 1000,
        s if s.starts_with(['e', 'E']) => {
            let exp: u32 = s[1..].parse().ok()?;
            10_i128.checked_pow(exp)? * 1000
        }
        _ => return None,
    };
    match num.split_once('.') {
        None => num.parse::<i128>().ok()?.checked_mul(scale),
        Some((int, frac)) => {
            let digits = frac.len() as u32;
            let whole: i128 = format!("{int}{frac}").parse().ok()?;
            // Round up, as upstream's quantities do when they lose precision.
            let scaled = whole.checked_mul(scale)?;
            let div = 10_i128.checked_pow(digits)?;
            Some((scaled + div - 1) / div)
        }
    }
}

fn get(map: &Option<BTreeMap<String, Quantity>>, key: &str) -> Option<i128> {
    milli_value(&map.as_ref()?.get(key)?.0)
}

pub fn linux_resources(c: &Container) -> cri::LinuxContainerResources {
    let res = c.resources.clone().unwrap_or_default();
    let (requests, limits) = (&res.requests, &res.limits);
    // Upstream: a request defaults to the limit when only the limit is set.
    let cpu_request = get(requests, "cpu").or_else(|| get(limits, "cpu"));
    let cpu_shares = cpu_request.map_or(MIN_SHARES, |m| {
        ((m * 1024) / 1000).max(i128::from(MIN_SHARES)) as i64
    });
    let cpu_quota = get(limits, "cpu").map_or(0, |m| {
        ((m * i128::from(CPU_PERIOD_US)) / 1000).max(i128::from(MIN_QUOTA_US)) as i64
    });
    let memory = get(limits, "memory").map_or(0, |m| (m / 1000) as i64);
    cri::LinuxContainerResources {
        cpu_period: if cpu_quota > 0 { CPU_PERIOD_US } else { 0 },
        cpu_quota,
        cpu_shares,
        memory_limit_in_bytes: memory,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities() {
        let cases = [
            ("500m", Some(500)),
            ("2", Some(2000)),
            ("0.5", Some(500)),
            ("1Ki", Some(1_024_000)),
            ("64Mi", Some(67_108_864_000)),
            ("1G", Some(1_000_000_000_000)),
            ("1e3", Some(1_000_000)),
            ("x", None),
            ("1Zi", None),
        ];
        for (q, want) in cases {
            assert_eq!(milli_value(q), want, "{q}");
        }
    }

    #[test]
    fn resources() {
        let cases = [
            (serde_json::json!({}), "shares=2 period=0 quota=0 mem=0"),
            (
                serde_json::json!({"requests": {"cpu": "250m"}}),
                "shares=256 period=0 quota=0 mem=0",
            ),
            (
                serde_json::json!({"limits": {"cpu": "1", "memory": "32Mi"}}),
                "shares=1024 period=100000 quota=100000 mem=33554432",
            ),
            (
                serde_json::json!({"requests": {"cpu": "100m", "memory": "16Mi"}, "limits": {"cpu": "5m"}}),
                "shares=102 period=100000 quota=1000 mem=0",
            ),
        ];
        for (resources, want) in cases {
            let c: Container =
                serde_json::from_value(serde_json::json!({"name": "c", "resources": resources}))
                    .unwrap();
            let r = linux_resources(&c);
            let got = format!(
                "shares={} period={} quota={} mem={}",
                r.cpu_shares, r.cpu_period, r.cpu_quota, r.memory_limit_in_bytes
            );
            assert_eq!(got, want, "{resources}");
        }
    }
}
