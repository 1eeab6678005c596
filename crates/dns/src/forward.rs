//! Names outside the cluster go to the host's resolvers, with a small cache (CoreDNS's
//! `forward . /etc/resolv.conf` and `cache 30`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

/// How long one upstream gets before the next is tried.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest an answer is kept (CoreDNS's `cache 30`).
const MAX_CACHE_TTL: u32 = 30;
const CACHE_ENTRIES: usize = 10_000;

type Key = (Name, RecordType, DNSClass);

struct Entry {
    stored: Instant,
    expires: Instant,
    message: Message,
}

pub struct Forwarder {
    upstreams: Vec<SocketAddr>,
    cache: Mutex<HashMap<Key, Entry>>,
}

/// How long a response may be cached: its smallest answer TTL, or for a negative answer
/// the SOA's (RFC 2308), at most [`MAX_CACHE_TTL`]; failures are not cached.
pub fn cache_ttl(m: &Message) -> Option<u32> {
    let rcode = m.metadata.response_code;
    if rcode != ResponseCode::NoError && rcode != ResponseCode::NXDomain {
        return None;
    }
    let ttl = if m.answers.is_empty() {
        m.authorities
            .iter()
            .find_map(|r| match &r.data {
                RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
                _ => None,
            })
            .unwrap_or(5)
    } else {
        m.answers.iter().map(|r| r.ttl).min().unwrap_or(0)
    };
    Some(ttl.min(MAX_CACHE_TTL)).filter(|t| *t > 0)
}

impl Forwarder {
    pub fn new(upstreams: Vec<SocketAddr>) -> Forwarder {
        Forwarder {
            upstreams,
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &Key) -> Option<Message> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let e = cache.get(key)?;
        let now = Instant::now();
        if now >= e.expires {
            return None;
        }
        let age = u32::try_from(now.duration_since(e.stored).as_secs()).unwrap_or(u32::MAX);
        let mut m = e.message.clone();
        for r in m
            .answers
            .iter_mut()
            .chain(m.authorities.iter_mut())
            .chain(m.additionals.iter_mut())
        {
            r.ttl = r.ttl.saturating_sub(age);
        }
        Some(m)
    }

    fn store(&self, key: Key, message: &Message) {
        let Some(ttl) = cache_ttl(message) else {
            return;
        };
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, e| e.expires > now);
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(
            key,
            Entry {
                stored: now,
                expires: now + Duration::from_secs(u64::from(ttl)),
                message: message.clone(),
            },
        );
    }

    /// The upstreams' answer to `query` (from the cache when fresh); None when none
    /// answered.
    pub async fn resolve(&self, query: &Query) -> Option<Message> {
        let key = (
            query.name.to_lowercase(),
            query.query_type,
            query.query_class,
        );
        if let Some(m) = self.cached(&key) {
            return Some(m);
        }
        let mut request = Message::query();
        request.metadata.recursion_desired = true;
        request.add_query(query.clone());
        let id = request.metadata.id;
        let bytes = request.to_vec().ok()?;
        for upstream in &self.upstreams {
            let answer =
                tokio::time::timeout(UPSTREAM_TIMEOUT, exchange(*upstream, &bytes, id)).await;
            match answer {
                Ok(Ok(m)) => {
                    self.store(key, &m);
                    return Some(m);
                }
                Ok(Err(e)) => tracing::debug!(%upstream, error = %e, "forwarding a query"),
                Err(_) => tracing::debug!(%upstream, "forwarding a query: timed out"),
            }
        }
        None
    }
}

fn bad(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// One query over UDP (a fresh socket: a random source port), again over TCP when the
/// answer came back truncated.
async fn exchange(upstream: SocketAddr, request: &[u8], id: u16) -> std::io::Result<Message> {
    let local: SocketAddr = if upstream.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        ([0u16; 8], 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(request).await?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = socket.recv(&mut buf).await?;
        let Ok(m) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if m.metadata.id != id {
            continue;
        }
        if !m.metadata.truncation {
            return Ok(m);
        }
        break;
    }
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(request.len()).map_err(bad)?;
    stream.write_all(&len.to_be_bytes()).await?;
    stream.write_all(request).await?;
    let len = stream.read_u16().await?;
    let mut buf = vec![0u8; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    Message::from_vec(&buf).map_err(bad)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use hickory_proto::op::OpCode;
    use hickory_proto::rr::rdata::{A, SOA};
    use hickory_proto::rr::Record;

    use super::*;

    fn name(s: &str) -> Name {
        Name::from_ascii(s).unwrap()
    }

    /// A response with `rcode`, A records with the given TTLs, and an SOA (TTL, minimum).
    fn response(rcode: ResponseCode, ttls: &[u32], soa: Option<(u32, u32)>) -> Message {
        let mut m = Message::response(1, OpCode::Query);
        m.metadata.response_code = rcode;
        for ttl in ttls {
            let a = RData::A(A::new(192, 0, 2, 1));
            m.answers
                .push(Record::from_rdata(name("a.example."), *ttl, a));
        }
        if let Some((ttl, minimum)) = soa {
            let soa = SOA::new(
                name("ns.example."),
                name("host.example."),
                1,
                7200,
                1800,
                86400,
                minimum,
            );
            m.authorities
                .push(Record::from_rdata(name("example."), ttl, RData::SOA(soa)));
        }
        m
    }

    #[test]
    fn how_long_answers_are_kept() {
        use ResponseCode::{NXDomain, NoError, Refused, ServFail};
        let cases = [
            (
                "the smallest answer TTL",
                response(NoError, &[300, 20], None),
                Some(20),
            ),
            ("at most 30 s", response(NoError, &[3600], None), Some(30)),
            (
                "NXDOMAIN: the SOA's TTL",
                response(NXDomain, &[], Some((10, 60))),
                Some(10),
            ),
            (
                "NXDOMAIN: or its minimum",
                response(NXDomain, &[], Some((600, 15))),
                Some(15),
            ),
            (
                "no data, no SOA: 5 s",
                response(NoError, &[], None),
                Some(5),
            ),
            ("SERVFAIL: not kept", response(ServFail, &[], None), None),
            (
                "REFUSED: not kept",
                response(Refused, &[], Some((60, 60))),
                None,
            ),
            ("TTL 0: not kept", response(NoError, &[0], None), None),
        ];
        for (case, m, want) in cases {
            assert_eq!(cache_ttl(&m), want, "{case}");
        }
    }

    /// An upstream on loopback that answers every query with `rcode` (and an SOA with
    /// NXDOMAIN), counting the queries it gets.
    async fn upstream(rcode: ResponseCode) -> (SocketAddr, Arc<AtomicUsize>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = socket.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let seen = count.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 512];
            while let Ok((n, from)) = socket.recv_from(&mut buf).await {
                let Ok(q) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                seen.fetch_add(1, Ordering::SeqCst);
                let soa = (rcode == ResponseCode::NXDomain).then_some((60, 60));
                let mut m = response(rcode, &[], soa);
                m.metadata.id = q.metadata.id;
                m.queries = q.queries.clone();
                let _ = socket.send_to(&m.to_vec().unwrap(), from).await;
            }
        });
        (addr, count)
    }

    #[tokio::test]
    async fn negative_answers_are_cached_failures_are_asked_again() {
        for (rcode, asked) in [(ResponseCode::NXDomain, 1), (ResponseCode::ServFail, 3)] {
            let (addr, count) = upstream(rcode).await;
            let f = Forwarder::new(vec![addr]);
            let q = Query::query(name("missing.example."), RecordType::A);
            for _ in 0..3 {
                let m = f.resolve(&q).await.expect("an answer");
                assert_eq!(m.metadata.response_code, rcode);
            }
            assert_eq!(count.load(Ordering::SeqCst), asked, "{rcode:?}");
        }
    }
}
