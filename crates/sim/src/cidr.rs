//! IPv4 ranges: per-node pod CIDRs carved from the cluster CIDR, and addresses inside them.

use std::net::Ipv4Addr;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    pub base: u32,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = s.split_once('/')?;
        let addr: Ipv4Addr = addr.parse().ok()?;
        let prefix: u8 = prefix.parse().ok()?;
        if prefix > 32 {
            return None;
        }
        Some(Cidr {
            base: u32::from(addr) & mask(prefix),
            prefix,
        })
    }

    /// How many subnets of `prefix` bits fit in this range.
    pub fn subnets(&self, prefix: u8) -> u64 {
        if prefix < self.prefix || prefix > 32 {
            return 0;
        }
        1u64 << (prefix - self.prefix)
    }

    /// The `index`th subnet of `prefix` bits, if it fits.
    pub fn subnet(&self, prefix: u8, index: u64) -> Option<Cidr> {
        if index >= self.subnets(prefix) {
            return None;
        }
        let size = 1u64 << (32 - prefix);
        Some(Cidr {
            base: (u64::from(self.base) + index * size) as u32,
            prefix,
        })
    }

    pub fn size(&self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    /// The address `offset` places after the base (callers keep it inside the range).
    pub fn host(&self, offset: u32) -> Ipv4Addr {
        Ipv4Addr::from(self.base.wrapping_add(offset))
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & mask(self.prefix) == self.base
    }

    /// The offset of `ip` from the base, when inside.
    pub fn offset(&self, ip: Ipv4Addr) -> Option<u32> {
        self.contains(ip).then(|| u32::from(ip) - self.base)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", Ipv4Addr::from(self.base), self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_and_hosts() {
        let c = Cidr::parse("10.42.0.0/16").unwrap();
        let cases: &[(u8, u64, Option<&str>)] = &[
            (24, 0, Some("10.42.0.0/24")),
            (24, 7, Some("10.42.7.0/24")),
            (24, 255, Some("10.42.255.0/24")),
            (24, 256, None),
            (25, 3, Some("10.42.1.128/25")),
            (16, 0, Some("10.42.0.0/16")),
            (8, 0, None),
        ];
        for (prefix, index, want) in cases {
            let got = c.subnet(*prefix, *index).map(|s| s.to_string());
            assert_eq!(got.as_deref(), *want, "/{prefix} #{index}");
        }
        let node = c.subnet(24, 3).unwrap();
        assert_eq!(node.host(2).to_string(), "10.42.3.2");
        assert_eq!(node.offset("10.42.3.9".parse().unwrap()), Some(9));
        assert_eq!(node.offset("10.42.4.9".parse().unwrap()), None);
        assert_eq!(Cidr::parse("10.42.1.7/16"), Some(c));
        assert_eq!(Cidr::parse("10.42.0.0/33"), None);
        assert_eq!(Cidr::parse("nonsense"), None);
    }
}
