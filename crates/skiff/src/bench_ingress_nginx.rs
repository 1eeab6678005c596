//! The field's yardstick for `bench ingress`: nginx, the data plane of ingress-nginx, as a
//! reverse proxy to the same pod under the same loads, so the overhead ratio of skiff's
//! ingress can be read against what a mature proxy costs on the same machine.
//!
//! Configured as ingress-nginx forwards (HTTP/1.1 to the backend over kept-alive
//! connections, the X-Forwarded headers, no access log) and sized like skiff's ingress
//! runtime here: one process (`master_process off`, so the child is the worker and its CPU
//! is all of nginx's). Skipped where nginx is not installed.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

const NGINX: &str = "/usr/sbin/nginx";

pub(crate) struct Nginx {
    child: Child,
    dir: PathBuf,
    pub port: u16,
    /// TLS with a self-signed certificate for `localhost` (ECDSA P-256, like the ingress's
    /// default certificate).
    pub tls_port: u16,
}

impl Nginx {
    /// Starts nginx on 127.0.0.1:`port` (and `tls_port`) in front of `backend`, answering
    /// for `host`; `None` when nginx is not installed.
    pub fn start(
        base: &Path,
        (port, tls_port): (u16, u16),
        host: &str,
        backend: SocketAddr,
    ) -> anyhow::Result<Option<Nginx>> {
        if !Path::new(NGINX).exists() {
            return Ok(None);
        }
        let dir = base.join(format!("skiff-bench-nginx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".into()])?;
        std::fs::write(dir.join("tls.crt"), certified.cert.pem())?;
        std::fs::write(dir.join("tls.key"), certified.signing_key.serialize_pem())?;
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config(&dir, (port, tls_port), host, backend))?;
        let child = Command::new(NGINX)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting nginx")?;
        let nginx = Nginx {
            child,
            dir,
            port,
            tls_port,
        };
        nginx.wait_listening()?;
        Ok(Some(nginx))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_listening(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            let log = std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default();
            anyhow::ensure!(
                Instant::now() < deadline,
                "nginx does not listen on {}: {log}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every path nginx writes is under `dir`, so nothing of it outlives the bench.
fn config(dir: &Path, (port, tls_port): (u16, u16), host: &str, backend: SocketAddr) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    # nginx closes a client connection after 1,000 requests by default; the loads here
    # keep theirs for the whole run, as they do with skiff's ingress.
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream backend {{
        server {backend};
        keepalive 256;
        keepalive_requests 100000000;
    }}
    server {{
        listen 127.0.0.1:{port};
        listen 127.0.0.1:{tls_port} ssl;
        server_name {host} localhost;
        ssl_certificate {d}/tls.crt;
        ssl_certificate_key {d}/tls.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $host;
        }}
    }}
}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwards_as_ingress_nginx_does_and_writes_only_under_its_dir() {
        let conf = config(
            Path::new("/var/tmp/n"),
            (8081, 8443),
            "bench.test",
            "10.52.0.5:8080".parse().unwrap(),
        );
        expect_test::expect![[r#"
            daemon off;
            master_process off;
            worker_processes 1;
            pid /var/tmp/n/nginx.pid;
            error_log /var/tmp/n/error.log warn;
            events { worker_connections 4096; }
            http {
                access_log off;
                # nginx closes a client connection after 1,000 requests by default; the loads here
                # keep theirs for the whole run, as they do with skiff's ingress.
                keepalive_requests 100000000;
                keepalive_timeout 300s;
                client_body_temp_path /var/tmp/n/body;
                proxy_temp_path /var/tmp/n/proxy;
                fastcgi_temp_path /var/tmp/n/fastcgi;
                uwsgi_temp_path /var/tmp/n/uwsgi;
                scgi_temp_path /var/tmp/n/scgi;
                upstream backend {
                    server 10.52.0.5:8080;
                    keepalive 256;
                    keepalive_requests 100000000;
                }
                server {
                    listen 127.0.0.1:8081;
                    listen 127.0.0.1:8443 ssl;
                    server_name bench.test localhost;
                    ssl_certificate /var/tmp/n/tls.crt;
                    ssl_certificate_key /var/tmp/n/tls.key;
                    ssl_protocols TLSv1.2 TLSv1.3;
                    location / {
                        proxy_pass http://backend;
                        proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Host $host;
                        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                        proxy_set_header X-Forwarded-Proto $scheme;
                        proxy_set_header X-Forwarded-Host $host;
                    }
                }
            }
        "#]]
        .assert_eq(&conf);
    }
}
