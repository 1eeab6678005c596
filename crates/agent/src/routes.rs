//! Networking safety (DESIGN.md): an `unreachable` route for the cluster and service CIDRs,
//! beneath the bridge's more specific podCIDR route, so no packet for a pod or service
//! address that does not exist here leaves the machine through its default route.

use std::net::Ipv4Addr;

use crate::Error;

/// `a.b.c.d/n` with the host bits zero, as `ip route` wants a prefix. Shorter than /8 is
/// refused: `replace unreachable 0.0.0.0/0` would take the machine's default route.
pub fn parse_prefix(cidr: &str) -> Option<(Ipv4Addr, u8)> {
    let (ip, len) = cidr.split_once('/')?;
    let ip: Ipv4Addr = ip.parse().ok()?;
    let len: u8 = len.parse().ok().filter(|l| (8..=32).contains(l))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    (u32::from(ip) & !mask == 0).then_some((ip, len))
}

/// Our routes' metric: a route of the machine's own for the same prefix (metric 0, as the
/// kernel's connected routes have) is never replaced and still wins.
pub const METRIC: &str = "4242";

/// The `ip` arguments that install (or keep) the route.
pub fn unreachable_args(cidr: &str) -> Result<Vec<String>, Error> {
    let (ip, len) = parse_prefix(cidr).ok_or_else(|| {
        Error::Config(format!(
            "{cidr:?}: want an IPv4 prefix of /8 or longer, such as 10.42.0.0/16"
        ))
    })?;
    Ok([
        "route",
        "replace",
        "unreachable",
        &format!("{ip}/{len}"),
        "metric",
        METRIC,
    ]
    .map(String::from)
    .to_vec())
}

pub async fn ensure_unreachable(cidrs: &[String]) -> Result<(), Error> {
    for cidr in cidrs {
        let args = unreachable_args(cidr)?;
        let out = tokio::process::Command::new("ip")
            .args(&args)
            .output()
            .await
            .map_err(|e| {
                Error::Config(format!(
                    "running ip {}: {e} (Debian package iproute2)",
                    args.join(" ")
                ))
            })?;
        if !out.status.success() {
            return Err(Error::Config(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args() {
        let cases = [
            "10.42.0.0/16",
            "10.43.0.0/16",
            "10.42.0.1/16",
            "10.42.0.0/33",
            "x",
            "0.0.0.0/0",
            "10.0.0.0/8",
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|c| match unreachable_args(c) {
                Ok(a) => format!("{c} -> ip {}", a.join(" ")),
                Err(e) => format!("{c} -> {e}"),
            })
            .collect();
        expect_test::expect![[r#"
            10.42.0.0/16 -> ip route replace unreachable 10.42.0.0/16 metric 4242
            10.43.0.0/16 -> ip route replace unreachable 10.43.0.0/16 metric 4242
            10.42.0.1/16 -> "10.42.0.1/16": want an IPv4 prefix of /8 or longer, such as 10.42.0.0/16
            10.42.0.0/33 -> "10.42.0.0/33": want an IPv4 prefix of /8 or longer, such as 10.42.0.0/16
            x -> "x": want an IPv4 prefix of /8 or longer, such as 10.42.0.0/16
            0.0.0.0/0 -> "0.0.0.0/0": want an IPv4 prefix of /8 or longer, such as 10.42.0.0/16
            10.0.0.0/8 -> ip route replace unreachable 10.0.0.0/8 metric 4242"#]]
        .assert_eq(&got.join("\n"));
    }
}
