//! A fixed-rate (open-loop) HTTP/1.1 load generator for `skiff bench ingress`: requests go
//! out on a schedule whatever the answers' latency, so a slower target shows as added
//! latency rather than as fewer requests (wrk's closed loop), and well below saturation
//! the latency is the path's own, not queueing for a CPU. wrk2 does this; it is not
//! packaged here.
//!
//! `connections` keep-alive connections share the schedule: request `i` is due at
//! `start + i / rate` on connection `i % connections`. The timer ticks in milliseconds, so
//! requests due within one millisecond leave together. Latency is measured from the
//! moment a request is written to the moment its whole answer is read; a request that
//! leaves more than [`LATE`] after it was due (its connection still busy, or the generator
//! short of CPU) is counted as late; many late requests mean the rate is beyond what the
//! target (or this machine) sustains.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;

/// A request leaving this long after it was due counts as late (the timer's millisecond
/// granularity alone makes up to about one).
pub const LATE: Duration = Duration::from_millis(2);

/// One open-loop run's figures.
#[derive(Debug, Default)]
pub struct OpenLoop {
    pub sent: u64,
    pub errors: u64,
    /// Requests that left more than [`LATE`] after they were due.
    pub late: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub p999: Duration,
}

/// `GET path` with `Host: host` to `addr` at `rate` requests/s for `seconds`.
pub async fn run(
    addr: SocketAddr,
    host: &str,
    path: &str,
    rate: u64,
    seconds: u64,
    connections: u64,
) -> anyhow::Result<OpenLoop> {
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now() + Duration::from_millis(20);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..connections.min(total) {
        let (host, path) = (host.to_string(), path.to_string());
        tasks.spawn(async move {
            one_connection(addr, &host, &path, c, connections, total, start, interval).await
        });
    }
    let mut latencies = Vec::with_capacity(total as usize);
    let mut out = OpenLoop::default();
    while let Some(done) = tasks.join_next().await {
        let part = done.context("a load connection panicked")??;
        out.sent += part.sent;
        out.errors += part.errors;
        out.late += part.late;
        latencies.extend(part.latencies);
    }
    latencies.sort_unstable();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    (out.p50, out.p99, out.p999) = (at(0.50), at(0.99), at(0.999));
    Ok(out)
}

struct Part {
    sent: u64,
    errors: u64,
    late: u64,
    latencies: Vec<Duration>,
}

#[allow(clippy::too_many_arguments)]
async fn one_connection(
    addr: SocketAddr,
    host: &str,
    path: &str,
    first: u64,
    step: u64,
    total: u64,
    start: Instant,
    interval: Duration,
) -> anyhow::Result<Part> {
    let mut part = Part {
        sent: 0,
        errors: 0,
        late: 0,
        latencies: Vec::with_capacity((total / step + 1) as usize),
    };
    let mut send = None;
    let mut i = first;
    while i < total {
        let due = start + interval.mul_f64(i as f64);
        tokio::time::sleep_until(due.into()).await;
        if send.is_none() {
            send = Some(connect(addr).await?);
        }
        let Some(s) = send.as_mut() else { continue };
        let req = http::Request::get(path)
            .header(http::header::HOST, host)
            .body(Empty::<Bytes>::new())?;
        let sent_at = Instant::now();
        if sent_at.saturating_duration_since(due) > LATE {
            part.late += 1;
        }
        let answered = async {
            let resp = s.send_request(req).await?;
            let ok = resp.status().is_success();
            resp.into_body().collect().await?;
            Ok::<bool, hyper::Error>(ok)
        }
        .await;
        part.sent += 1;
        match answered {
            Ok(true) => part.latencies.push(sent_at.elapsed()),
            Ok(false) => part.errors += 1,
            Err(_) => {
                part.errors += 1;
                send = None;
            }
        }
        i += step;
    }
    Ok(part)
}

async fn connect(addr: SocketAddr) -> anyhow::Result<http1::SendRequest<Empty<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (send, conn) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(send)
}
