//! The host's resolver configuration (`/etc/resolv.conf`): where names outside the cluster
//! are forwarded, and what pods with dnsPolicy Default get. Pure parsing.

use std::net::IpAddr;
use std::path::Path;

pub const HOST: &str = "/etc/resolv.conf";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvConf {
    pub nameservers: Vec<IpAddr>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

impl ResolvConf {
    /// As glibc reads it: `nameserver`, `search` (a later `domain` or `search` line replaces
    /// the list), `options`; `#` and `;` start comments.
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(|w| w.parse().ok()) {
                        conf.nameservers.push(ip);
                    }
                }
                Some("search") | Some("domain") => {
                    conf.searches = words.map(|w| w.trim_end_matches('.').to_string()).collect();
                }
                Some("options") => conf.options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        conf
    }

    /// The host's file; with only loopback nameservers (a local stub such as
    /// systemd-resolved, which pods cannot reach) the stub's upstream file if there is one,
    /// as the kubelet's documentation advises.
    pub fn host() -> ResolvConf {
        ResolvConf::load(Path::new(HOST))
    }

    /// A resolv.conf file (the kubelet's `--resolv-conf`); a missing file is an empty one.
    pub fn load(path: &Path) -> ResolvConf {
        let read = |p: &Path| std::fs::read_to_string(p).map(|t| ResolvConf::parse(&t));
        let conf = read(path).unwrap_or_default();
        if path != Path::new(HOST)
            || conf.nameservers.is_empty()
            || !conf.nameservers.iter().all(IpAddr::is_loopback)
        {
            return conf;
        }
        match read(Path::new("/run/systemd/resolve/resolv.conf")) {
            Ok(upstream) if !upstream.nameservers.is_empty() => upstream,
            _ => conf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let cases = [
            (
                "nameserver 10.0.0.2\nnameserver 10.0.0.3 # second\nsearch example.com. corp\noptions ndots:2 edns0\n",
                "ns=[10.0.0.2, 10.0.0.3] search=[\"example.com\", \"corp\"] options=[\"ndots:2\", \"edns0\"]",
            ),
            (
                "; comment\ndomain a.example\nsearch b.example\nnameserver bogus\nnameserver ::1\n",
                "ns=[::1] search=[\"b.example\"] options=[]",
            ),
            ("", "ns=[] search=[] options=[]"),
        ];
        for (text, want) in cases {
            let c = ResolvConf::parse(text);
            let got = format!(
                "ns={:?} search={:?} options={:?}",
                c.nameservers, c.searches, c.options
            );
            assert_eq!(got, want, "{text:?}");
        }
    }
}
