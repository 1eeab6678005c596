//! The pod network: one CNI conflist (bridge with host-local addresses from the node's
//! podCIDR, then portmap) in our containerd's conf dir. containerd's CRI sets up each
//! sandbox's `lo` itself with the `loopback` plugin from the same bin dir, so the conflist
//! does not list it, but the plugin must be there.
//!
//! Networking safety (DESIGN.md): no masquerading and no rules beyond the bridge itself;
//! pod traffic stays on this machine.

use std::path::Path;

use serde_json::json;

use crate::Error;

/// Where Debian's `containernetworking-plugins` installs the plugins.
pub const BIN_DIR: &str = "/usr/lib/cni";

/// Plugins the conflist and containerd use.
pub const PLUGINS: &[&str] = &["bridge", "host-local", "portmap", "loopback"];

pub const FILE_NAME: &str = "10-skiff.conflist";

#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// The Linux bridge pods attach to (at most 15 characters).
    pub bridge: String,
    /// The node's podCIDR, e.g. `10.42.0.0/24`.
    pub pod_cidr: String,
    /// host-local's allocation records.
    pub ipam_dir: String,
}

pub fn render(c: &NetworkConfig) -> String {
    let conflist = json!({
        "cniVersion": "1.0.0",
        "name": "skiff",
        "plugins": [
            {
                "type": "bridge",
                "bridge": c.bridge,
                "isGateway": true,
                "ipMasq": false,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": c.pod_cidr}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": c.ipam_dir,
                },
            },
            {
                "type": "portmap",
                "capabilities": {"portMappings": true},
            },
        ],
    });
    let mut text = serde_json::to_string_pretty(&conflist).unwrap_or_default();
    text.push('\n');
    text
}

/// Writes the conflist atomically (containerd watches the dir and may read it any time).
pub fn write(conf_dir: &Path, c: &NetworkConfig) -> Result<(), Error> {
    std::fs::create_dir_all(conf_dir).map_err(|e| Error::io(conf_dir, e))?;
    let file = conf_dir.join(FILE_NAME);
    let text = render(c);
    if std::fs::read_to_string(&file).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let tmp = conf_dir.join(format!(".{FILE_NAME}.tmp"));
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, &file).map_err(|e| Error::io(&file, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflist() {
        let c = NetworkConfig {
            bridge: "skiff0".into(),
            pod_cidr: "10.42.0.0/24".into(),
            ipam_dir: "/var/lib/skiff/agent/cni/ipam".into(),
        };
        expect_test::expect_file!["../testdata/cni.conflist"].assert_eq(&render(&c));
    }
}
