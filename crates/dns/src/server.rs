//! The wire side: DNS over UDP and TCP (RFC 1035, length-prefixed on TCP), answering from
//! the current index and forwarding the rest.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::DNSClass;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

use crate::answer::{self, Outcome, Zone};
use crate::forward::Forwarder;
use crate::index::Index;

/// What answers are made from; None until the first full list of both watches.
pub type Snapshot = Arc<RwLock<Option<Arc<(Index, Zone)>>>>;

/// Our EDNS payload size (the DNS flag day 2020 value).
const EDNS_PAYLOAD: u16 = 1232;
/// A TCP client silent this long is dropped.
const TCP_IDLE: Duration = Duration::from_secs(10);
/// ExternalName chains followed inside the cluster domain.
const MAX_CHASE: usize = 8;

pub struct Handler {
    pub snapshot: Snapshot,
    pub forwarder: Forwarder,
    /// The cluster domain (lowercase, fully qualified).
    pub domain: hickory_proto::rr::Name,
}

enum Step {
    Done(Message),
    /// Needs the upstreams: the response so far and what to ask.
    Forward(Message, Query),
}

fn response_to(req: &Message) -> Message {
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.recursion_desired = req.metadata.recursion_desired;
    resp.metadata.recursion_available = true;
    resp.queries = req.queries.clone();
    if req.edns.is_some() {
        let mut edns = Edns::new();
        edns.set_max_payload(EDNS_PAYLOAD);
        resp.edns = Some(edns);
    }
    resp
}

impl Handler {
    fn current(&self) -> Option<Arc<(Index, Zone)>> {
        self.snapshot
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Answers what can be answered at once (the cluster's names), or says what to forward.
    fn local(&self, req: &Message) -> Step {
        let mut resp = response_to(req);
        if req.metadata.message_type != MessageType::Query {
            resp.metadata.response_code = ResponseCode::FormErr;
            return Step::Done(resp);
        }
        if req.metadata.op_code != OpCode::Query {
            resp.metadata.response_code = ResponseCode::NotImp;
            return Step::Done(resp);
        }
        let [q] = req.queries.as_slice() else {
            resp.metadata.response_code = ResponseCode::FormErr;
            return Step::Done(resp);
        };
        if q.query_class != DNSClass::IN {
            return Step::Forward(resp, q.clone());
        }
        let Some(current) = self.current() else {
            if !self.domain.zone_of(&q.name.to_lowercase()) {
                return Step::Forward(resp, q.clone());
            }
            resp.metadata.response_code = ResponseCode::ServFail;
            return Step::Done(resp);
        };
        let (index, zone) = (&current.0, &current.1);
        let mut name = q.name.clone();
        for _ in 0..MAX_CHASE {
            match answer::answer(index, zone, &name, q.query_type) {
                Outcome::Forward if name == q.name => return Step::Forward(resp, q.clone()),
                Outcome::Forward => {
                    // An ExternalName pointing outside the cluster.
                    let mut chased = q.clone();
                    chased.name = name;
                    return Step::Forward(resp, chased);
                }
                Outcome::Reply(r) => {
                    resp.metadata.authoritative = true;
                    resp.metadata.response_code = r.rcode;
                    resp.answers.extend(r.answers);
                    resp.additionals.extend(r.additionals);
                    resp.authorities = r.authority;
                    match r.chase {
                        Some(target) if !zone.domain.zone_of(&target.to_lowercase()) => {
                            let mut chased = q.clone();
                            chased.name = target;
                            return Step::Forward(resp, chased);
                        }
                        Some(target) => name = target,
                        None => {
                            rotate_addresses(&mut resp.answers, usize::from(req.metadata.id));
                            return Step::Done(resp);
                        }
                    }
                }
            }
        }
        Step::Done(resp)
    }

    async fn finish(&self, mut resp: Message, query: Query) -> Message {
        let chasing = !resp.answers.is_empty();
        match self.forwarder.resolve(&query).await {
            Some(up) if chasing => {
                // The CNAME is ours; the target's addresses are the upstream's.
                resp.answers.extend(up.answers);
            }
            Some(up) => {
                resp.metadata.response_code = up.metadata.response_code;
                resp.metadata.authoritative = false;
                resp.answers = up.answers;
                resp.authorities = up.authorities;
                resp.additionals = up.additionals;
            }
            None if chasing => {}
            None => resp.metadata.response_code = ResponseCode::ServFail,
        }
        resp
    }

    /// The encoded response to an encoded request; `limit` is the UDP size limit (None on
    /// TCP). None when the request cannot even be answered with an error.
    pub async fn handle(&self, request: &[u8], limit: Option<usize>) -> Option<Vec<u8>> {
        let resp = match Message::from_vec(request) {
            Ok(req) => {
                let resp = match self.local(&req) {
                    Step::Done(m) => m,
                    Step::Forward(m, q) => self.finish(m, q).await,
                };
                let limit = limit.map(|l| match &req.edns {
                    Some(e) => usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD)),
                    None => l,
                });
                return encode(&resp, limit);
            }
            Err(_) if request.len() >= 2 => {
                let id = u16::from_be_bytes([request[0], request[1]]);
                Message::error_msg(id, OpCode::Query, ResponseCode::FormErr)
            }
            Err(_) => return None,
        };
        encode(&resp, None)
    }

    /// Answers without awaiting when the question is the cluster's (the common case).
    pub fn handle_now(&self, request: &[u8]) -> Now {
        let Ok(req) = Message::from_vec(request) else {
            return Now::Later;
        };
        match self.local(&req) {
            Step::Done(resp) => {
                let limit = match &req.edns {
                    Some(e) => usize::from(e.max_payload().clamp(512, EDNS_PAYLOAD)),
                    None => 512,
                };
                Now::Done(encode(&resp, Some(limit)))
            }
            Step::Forward(..) => Now::Later,
        }
    }
}

/// Spreads clients that take the first address over all of them, as CoreDNS's
/// `loadbalance` does (the query id is random enough).
fn rotate_addresses(answers: &mut [hickory_proto::rr::Record], by: usize) {
    use hickory_proto::rr::RecordType;
    if answers.len() > 1
        && answers
            .iter()
            .all(|r| matches!(r.record_type(), RecordType::A | RecordType::AAAA))
    {
        let n = answers.len();
        answers.rotate_left(by % n);
    }
}

pub enum Now {
    /// The response (None: nothing to send).
    Done(Option<Vec<u8>>),
    /// Needs the upstreams (or an error reply): go through [`Handler::handle`].
    Later,
}

fn encode(resp: &Message, limit: Option<usize>) -> Option<Vec<u8>> {
    let bytes = resp.to_vec().ok()?;
    match limit {
        Some(l) if bytes.len() > l => resp.truncate().to_vec().ok(),
        _ => Some(bytes),
    }
}

/// One receive loop; several may share the socket.
pub async fn serve_udp(socket: Arc<UdpSocket>, handler: Arc<Handler>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "dns: receiving");
                continue;
            }
        };
        match handler.handle_now(&buf[..n]) {
            Now::Done(Some(resp)) => {
                let _ = socket.send_to(&resp, peer).await;
            }
            Now::Done(None) => {}
            Now::Later => {
                let (socket, handler, request) =
                    (socket.clone(), handler.clone(), buf[..n].to_vec());
                tokio::spawn(async move {
                    if let Some(resp) = handler.handle(&request, Some(512)).await {
                        let _ = socket.send_to(&resp, peer).await;
                    }
                });
            }
        }
    }
}

pub async fn serve_tcp(listener: TcpListener, handler: Arc<Handler>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let handler = handler.clone();
        tokio::spawn(async move {
            let _ = tcp_connection(stream, handler).await;
        });
    }
}

async fn tcp_connection(mut stream: TcpStream, handler: Arc<Handler>) -> std::io::Result<()> {
    loop {
        let Ok(len) = tokio::time::timeout(TCP_IDLE, stream.read_u16()).await else {
            return Ok(());
        };
        let mut buf = vec![0u8; usize::from(len?)];
        stream.read_exact(&mut buf).await?;
        let Some(resp) = handler.handle(&buf, None).await else {
            return Ok(());
        };
        let len = u16::try_from(resp.len()).unwrap_or(u16::MAX);
        stream.write_all(&len.to_be_bytes()).await?;
        stream.write_all(&resp[..usize::from(len)]).await?;
    }
}

/// A socket address for `ip:port` that may be bound before the address exists (the
/// bridge's gateway appears with the first pod).
pub fn bind_udp(addr: SocketAddr) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv4() {
        s.set_freebind_v4(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    Ok(s.into())
}

pub fn bind_tcp(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv4() {
        s.set_freebind_v4(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(128)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_proto::rr::rdata::A;
    use hickory_proto::rr::{Name, RData, Record, RecordType};
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn ask(name: &str, qtype: RecordType) -> Vec<u8> {
        let mut m = Message::query();
        m.metadata.recursion_desired = true;
        m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
        m.to_vec().unwrap()
    }

    /// An upstream that answers every A question with 192.0.2.1, counting questions.
    async fn upstream() -> (SocketAddr, Arc<AtomicUsize>) {
        let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = sock.local_addr().unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            while let Ok((n, peer)) = sock.recv_from(&mut buf).await {
                c.fetch_add(1, Ordering::SeqCst);
                let req = Message::from_vec(&buf[..n]).unwrap();
                let mut resp = response_to(&req);
                let q = &req.queries[0];
                resp.answers.push(Record::from_rdata(
                    q.name.clone(),
                    60,
                    RData::A(A::new(192, 0, 2, 1)),
                ));
                let _ = sock.send_to(&resp.to_vec().unwrap(), peer).await;
            }
        });
        (addr, count)
    }

    fn summary(bytes: &[u8]) -> String {
        let m = Message::from_vec(bytes).unwrap();
        let answers: Vec<String> = m.answers.iter().map(|r| r.to_string()).collect();
        format!(
            "{} aa={} tc={} [{}]",
            m.metadata.response_code,
            m.metadata.authoritative,
            m.metadata.truncation,
            answers.join("; ")
        )
    }

    #[tokio::test]
    async fn serves_forwards_caches_and_truncates() {
        let (up, count) = upstream().await;
        let handler = Handler {
            snapshot: Arc::default(),
            forwarder: Forwarder::new(vec![up]),
            domain: Zone::new("cluster.local").unwrap().domain,
        };
        let q = ask("web.default.svc.cluster.local.", RecordType::A);
        // Before the first sync the cluster's names fail rather than say NXDOMAIN.
        assert_eq!(
            summary(&handler.handle(&q, Some(512)).await.unwrap()),
            "Server Failure aa=false tc=false []"
        );

        let services: Vec<k8s_openapi::api::core::v1::Service> = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "web", "namespace": "default"}, "spec": {"clusterIP": "10.43.0.20"}},
            {"metadata": {"name": "big", "namespace": "default"}, "spec": {"clusterIP": "None"}},
        ])).unwrap();
        let endpoints: Vec<serde_json::Value> = (0..100)
            .map(|i| serde_json::json!({"addresses": [format!("10.42.1.{i}")]}))
            .collect();
        let slices: Vec<k8s_openapi::api::discovery::v1::EndpointSlice> = serde_json::from_value(serde_json::json!([
            {"metadata": {"name": "big-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "big"}},
             "addressType": "IPv4", "endpoints": endpoints},
        ])).unwrap();
        let zone = Zone::new("cluster.local").unwrap();
        *handler.snapshot.write().unwrap() =
            Some(Arc::new((crate::index::build(&services, &slices), zone)));

        let cases = [
            (
                ask("web.default.svc.cluster.local.", RecordType::A),
                Some(512),
                "No Error aa=true tc=false [web.default.svc.cluster.local. 5 IN A 10.43.0.20]",
            ),
            (
                ask("example.com.", RecordType::A),
                Some(512),
                "No Error aa=false tc=false [example.com. 60 IN A 192.0.2.1]",
            ),
            (
                ask("big.default.svc.cluster.local.", RecordType::A),
                Some(512),
                "No Error aa=true tc=true []",
            ),
        ];
        for (q, limit, want) in cases {
            assert_eq!(summary(&handler.handle(&q, limit).await.unwrap()), want);
        }
        // Over TCP the whole answer fits.
        let tcp = handler
            .handle(&ask("big.default.svc.cluster.local.", RecordType::A), None)
            .await
            .unwrap();
        assert_eq!(Message::from_vec(&tcp).unwrap().answers.len(), 100);
        // The second forwarded question comes from the cache; in-zone ones never leave.
        assert!(matches!(
            handler.handle_now(&ask("example.com.", RecordType::A)),
            Now::Later
        ));
        handler
            .handle(&ask("EXAMPLE.com.", RecordType::A), Some(512))
            .await
            .unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        // Garbage gets FORMERR with its id.
        let bad = handler
            .handle(&[0xab, 0xcd, 0xff], Some(512))
            .await
            .unwrap();
        assert_eq!(
            Message::from_vec(&bad).unwrap().metadata.response_code,
            ResponseCode::FormErr
        );
    }

    #[tokio::test]
    async fn udp_and_tcp_sockets() {
        let handler = Arc::new(Handler {
            snapshot: Arc::default(),
            forwarder: Forwarder::new(vec![]),
            domain: Zone::new("cluster.local").unwrap().domain,
        });
        let services: Vec<k8s_openapi::api::core::v1::Service> = serde_json::from_value(
            serde_json::json!([{"metadata": {"name": "web", "namespace": "default"}, "spec": {"clusterIP": "10.43.0.20"}}]),
        )
        .unwrap();
        let zone = Zone::new("cluster.local").unwrap();
        *handler.snapshot.write().unwrap() =
            Some(Arc::new((crate::index::build(&services, &[]), zone)));
        let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let udp = Arc::new(UdpSocket::from_std(bind_udp(addr).unwrap()).unwrap());
        let tcp = TcpListener::from_std(bind_tcp(addr).unwrap()).unwrap();
        let (udp_addr, tcp_addr) = (udp.local_addr().unwrap(), tcp.local_addr().unwrap());
        tokio::spawn(serve_udp(udp, handler.clone()));
        tokio::spawn(serve_tcp(tcp, handler));
        let q = ask("web.default.svc.cluster.local.", RecordType::A);
        let want = "No Error aa=true tc=false [web.default.svc.cluster.local. 5 IN A 10.43.0.20]";

        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        client.send_to(&q, udp_addr).await.unwrap();
        let mut buf = [0u8; 1500];
        let n = tokio::time::timeout(Duration::from_secs(5), client.recv(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(summary(&buf[..n]), want);

        let mut stream = TcpStream::connect(tcp_addr).await.unwrap();
        for _ in 0..2 {
            stream
                .write_all(&(q.len() as u16).to_be_bytes())
                .await
                .unwrap();
            stream.write_all(&q).await.unwrap();
            let len = stream.read_u16().await.unwrap();
            let mut resp = vec![0u8; usize::from(len)];
            stream.read_exact(&mut resp).await.unwrap();
            assert_eq!(summary(&resp), want);
        }
    }
}
