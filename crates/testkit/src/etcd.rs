//! Real etcd members (Debian's `etcd-server`) for tests: a cluster of one or more members on
//! loopback ports, each in its own directory of one temp dir, killed and removed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::free_port;

pub struct EtcdMember {
    pub name: String,
    pub client_port: u16,
    peer_port: u16,
    child: Option<Child>,
}

pub struct EtcdCluster {
    pub dir: tempfile::TempDir,
    pub members: Vec<EtcdMember>,
    initial_cluster: String,
    /// With [`EtcdCluster::start_tls`]: the PEM files clients need.
    pub tls: Option<TlsFiles>,
}

/// A test CA, the members' serving certificate (127.0.0.1) and a client certificate.
pub struct TlsFiles {
    pub ca: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
}

impl TlsFiles {
    fn create(dir: &std::path::Path) -> TlsFiles {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().expect("key");
        let mut ca = CertificateParams::default();
        ca.distinguished_name
            .push(DnType::CommonName, "etcd-test-ca");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca.self_signed(&ca_key).expect("ca");
        let issuer = Issuer::new(ca, ca_key);
        let leaf = |cn: &str, sans: Vec<String>| {
            let key = KeyPair::generate().expect("key");
            let mut p = CertificateParams::new(sans).expect("params");
            p.distinguished_name.push(DnType::CommonName, cn);
            let cert = p.signed_by(&key, &issuer).expect("cert");
            (cert.pem(), key.serialize_pem())
        };
        let (server_pem, server_key_pem) =
            leaf("etcd", vec!["127.0.0.1".into(), "localhost".into()]);
        let (client_pem, client_key_pem) = leaf("skiff", vec![]);
        let write = |name: &str, pem: &str| {
            let p = dir.join(name);
            std::fs::write(&p, pem).expect("write pem");
            p
        };
        TlsFiles {
            ca: write("ca.crt", &ca_cert.pem()),
            server_cert: write("server.crt", &server_pem),
            server_key: write("server.key", &server_key_pem),
            client_cert: write("client.crt", &client_pem),
            client_key: write("client.key", &client_key_pem),
        }
    }
}

/// Whether the etcd binaries are installed (`scripts/install-packages.sh` installs them).
pub fn etcd_available() -> bool {
    Command::new("etcd")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl EtcdCluster {
    /// Starts `n` members and waits until every one answers as healthy.
    pub fn start(n: usize) -> EtcdCluster {
        EtcdCluster::start_in(n, &std::env::temp_dir())
    }

    /// [`EtcdCluster::start`] with https client URLs that require client certificates from
    /// a test CA (see [`EtcdCluster::tls`]).
    pub fn start_tls(n: usize) -> EtcdCluster {
        EtcdCluster::start_opts(n, &std::env::temp_dir(), true)
    }

    /// [`EtcdCluster::start`] with the members' data under `base` (the disk measured).
    pub fn start_in(n: usize, base: &std::path::Path) -> EtcdCluster {
        EtcdCluster::start_opts(n, base, false)
    }

    fn start_opts(n: usize, base: &std::path::Path, tls: bool) -> EtcdCluster {
        assert!(
            etcd_available(),
            "etcd is missing: apt-get install etcd-server etcd-client (scripts/install-packages.sh)"
        );
        let dir = tempfile::Builder::new()
            .prefix("skiff-etcd-")
            .tempdir_in(base)
            .expect("temp dir");
        let members: Vec<EtcdMember> = (0..n)
            .map(|i| EtcdMember {
                name: format!("m{i}"),
                client_port: free_port(),
                peer_port: free_port(),
                child: None,
            })
            .collect();
        let initial_cluster = members
            .iter()
            .map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer_port))
            .collect::<Vec<_>>()
            .join(",");
        let tls = tls.then(|| TlsFiles::create(dir.path()));
        let mut cluster = EtcdCluster {
            dir,
            members,
            initial_cluster,
            tls,
        };
        for i in 0..n {
            cluster.spawn(i, "new");
        }
        for i in 0..n {
            cluster.wait_healthy(i, Duration::from_secs(30));
        }
        cluster
    }

    fn data_dir(&self, i: usize) -> PathBuf {
        self.dir.path().join(&self.members[i].name)
    }

    pub fn log_path(&self, i: usize) -> PathBuf {
        self.dir
            .path()
            .join(format!("{}.log", self.members[i].name))
    }

    fn spawn(&mut self, i: usize, state: &str) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path(i))
            .expect("etcd log file");
        let m = &self.members[i];
        let client = self.endpoint(i);
        let peer = format!("http://127.0.0.1:{}", m.peer_port);
        let mut cmd = Command::new("etcd");
        if let Some(t) = &self.tls {
            cmd.arg("--cert-file")
                .arg(&t.server_cert)
                .arg("--key-file")
                .arg(&t.server_key)
                .arg("--trusted-ca-file")
                .arg(&t.ca)
                .arg("--client-cert-auth");
        }
        let child = cmd
            .args(["--name", &m.name])
            .arg("--data-dir")
            .arg(self.data_dir(i))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &self.initial_cluster])
            .args(["--initial-cluster-state", state])
            .args(["--initial-cluster-token", "skiff-test"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log fd"))
            .stderr(log)
            .spawn()
            .expect("starting etcd");
        self.members[i].child = Some(child);
    }

    pub fn endpoint(&self, i: usize) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://127.0.0.1:{}", self.members[i].client_port)
    }

    /// etcdctl's flags for this cluster's TLS, if any.
    fn etcdctl_tls(&self, cmd: &mut Command) {
        if let Some(t) = &self.tls {
            cmd.arg("--cacert")
                .arg(&t.ca)
                .arg("--cert")
                .arg(&t.client_cert)
                .arg("--key")
                .arg(&t.client_key);
        }
    }

    /// All members' client URLs, comma-separated (skiff's `--datastore-endpoint` form).
    pub fn endpoints(&self) -> String {
        (0..self.members.len())
            .map(|i| self.endpoint(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// `etcdctl` against every member.
    pub fn etcdctl(&self, args: &[&str]) -> std::process::Output {
        let mut cmd = Command::new("etcdctl");
        cmd.env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.endpoints()]);
        self.etcdctl_tls(&mut cmd);
        cmd.args(args).output().expect("running etcdctl")
    }

    pub fn wait_healthy(&self, i: usize, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let mut cmd = Command::new("etcdctl");
            cmd.env("ETCDCTL_API", "3")
                .args(["--endpoints", &self.endpoint(i)]);
            self.etcdctl_tls(&mut cmd);
            let ok = cmd
                .args(["--command-timeout", "2s", "endpoint", "health"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd member {i} not healthy within {within:?}; log:\n{}",
                std::fs::read_to_string(self.log_path(i)).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILLs member `i` (its data stays, so `restart` brings it back).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts a killed member again on its old data and ports.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i, "existing");
        self.wait_healthy(i, Duration::from_secs(30));
    }

    pub fn is_running(&self, i: usize) -> bool {
        self.members[i].child.is_some()
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}
