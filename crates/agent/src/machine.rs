//! Facts about this machine for the Node's status: capacity, addresses, system info.

use std::net::Ipv4Addr;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Machine {
    pub cpus: usize,
    pub memory_kib: u64,
    pub ephemeral_storage_bytes: u64,
    pub kernel_version: String,
    pub os_image: String,
    pub machine_id: String,
    pub boot_id: String,
    pub internal_ip: Ipv4Addr,
}

/// How the node's InternalIP is chosen.
#[derive(Clone, Debug, Default)]
pub struct AddressChoice {
    /// `--node-ip`: taken as it is.
    pub node_ip: Option<Ipv4Addr>,
    /// The pod bridge: its gateway address is never the node's.
    pub bridge: String,
    /// The cluster and service CIDRs: no address inside them is the node's.
    pub avoid: Vec<String>,
}

/// The InternalIP: `--node-ip`, else the first address (up, non-loopback interfaces in
/// the kernel's order) not on the pod bridge nor inside the cluster's ranges, else
/// loopback. An agent restarted in a fresh network namespace finds its bridge there before
/// the uplink (a lower interface index), so the bridge must be skipped by name.
pub fn choose_internal_ip(addrs: &[(String, Ipv4Addr)], choice: &AddressChoice) -> Ipv4Addr {
    if let Some(ip) = choice.node_ip {
        return ip;
    }
    let avoid: Vec<(Ipv4Addr, u8)> = choice
        .avoid
        .iter()
        .filter_map(|c| crate::routes::parse_prefix(c))
        .collect();
    let inside = |ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)| {
        let mask = u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0);
        u32::from(ip) & mask == u32::from(net)
    };
    addrs
        .iter()
        .find(|(dev, ip)| *dev != choice.bridge && !avoid.iter().any(|net| inside(*ip, *net)))
        .map_or(Ipv4Addr::LOCALHOST, |(_, ip)| *ip)
}

impl Machine {
    pub fn probe(data_dir: &Path, address: &AddressChoice) -> Machine {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .trim()
                .to_string()
        };
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_kib: mem_total_kib(&read("/proc/meminfo")).unwrap_or(0),
            ephemeral_storage_bytes: disk_bytes(data_dir).unwrap_or(0),
            kernel_version: read("/proc/sys/kernel/osrelease"),
            os_image: pretty_name(&read("/etc/os-release")).unwrap_or_else(|| "Linux".into()),
            machine_id: read("/etc/machine-id"),
            boot_id: read("/proc/sys/kernel/random/boot_id"),
            internal_ip: choose_internal_ip(&ipv4_addresses(), address),
        }
    }
}

fn mem_total_kib(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()
}

fn pretty_name(os_release: &str) -> Option<String> {
    let v = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))?;
    Some(v.trim_matches('"').to_string())
}

fn disk_bytes(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a zeroed struct the call fills in.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some(st.f_blocks as u64 * st.f_frsize as u64)
}

/// The IPv4 addresses of up, non-loopback interfaces, with the interface's name.
fn ipv4_addresses() -> Vec<(String, Ipv4Addr)> {
    let mut addrs: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs allocates a list we walk read-only and free below.
    if unsafe { libc::getifaddrs(&mut addrs) } != 0 {
        return Vec::new();
    }
    let mut found = Vec::new();
    let mut cur = addrs;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        let up = ifa.ifa_flags & (libc::IFF_UP as u32) != 0;
        let lo = ifa.ifa_flags & (libc::IFF_LOOPBACK as u32) != 0;
        if !up || lo || ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and its family says which struct it is.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: AF_INET addresses are sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        // SAFETY: ifa_name is a non-null NUL-terminated string owned by the list.
        let name = unsafe { std::ffi::CStr::from_ptr(ifa.ifa_name) };
        found.push((
            name.to_string_lossy().into_owned(),
            Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
        ));
    }
    // SAFETY: the list from getifaddrs, freed once.
    unsafe { libc::freeifaddrs(addrs) };
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ip() {
        let addrs = |s: &str| -> Vec<(String, Ipv4Addr)> {
            s.split(", ")
                .filter_map(|a| a.split_once(' '))
                .map(|(d, ip)| (d.to_string(), ip.parse().unwrap()))
                .collect()
        };
        let choice = AddressChoice {
            node_ip: None,
            bridge: "skiff0".into(),
            avoid: vec!["10.42.0.0/16".into(), "10.43.0.0/16".into()],
        };
        let with_ip = AddressChoice {
            node_ip: Some("10.199.0.1".parse().unwrap()),
            ..choice.clone()
        };
        let cases = [
            ("eth0 192.0.2.2, skiff0 10.42.0.1", &choice),
            ("skiff0 10.42.1.1, veth0 10.199.0.2", &choice),
            ("cni9 10.42.7.1, eth0 192.0.2.2", &choice),
            ("skiff0 10.42.1.1", &choice),
            ("", &choice),
            ("eth0 192.0.2.2", &with_ip),
        ];
        let got: Vec<String> = cases
            .iter()
            .map(|(a, c)| format!("[{a}] -> {}", choose_internal_ip(&addrs(a), c)))
            .collect();
        expect_test::expect![[r#"
            [eth0 192.0.2.2, skiff0 10.42.0.1] -> 192.0.2.2
            [skiff0 10.42.1.1, veth0 10.199.0.2] -> 10.199.0.2
            [cni9 10.42.7.1, eth0 192.0.2.2] -> 192.0.2.2
            [skiff0 10.42.1.1] -> 127.0.0.1
            [] -> 127.0.0.1
            [eth0 192.0.2.2] -> 10.199.0.1"#]]
        .assert_eq(&got.join("\n"));
    }

    #[test]
    fn parses() {
        let cases = [
            ("MemTotal:       24576000 kB\nMemFree: 1 kB", Some(24576000)),
            ("MemFree: 1 kB", None),
        ];
        for (input, want) in cases {
            assert_eq!(mem_total_kib(input), want, "{input}");
        }
        assert_eq!(
            pretty_name("NAME=\"Debian\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"),
            Some("Debian GNU/Linux 12 (bookworm)".into())
        );
    }
}
