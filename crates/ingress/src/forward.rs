//! One request through the proxy: route by host and path on the current table, pick an
//! endpoint per request, forward with the X-Forwarded headers over an HTTP/1.1 connection
//! that this request's task drives ([`crate::upstream`]), and
//! answer 404/502/503 ourselves with a body that says why. `Upgrade` requests (WebSocket)
//! are forwarded with their upgrade headers and, on a 101, both sides are spliced.

use std::borrow::Cow;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::routes::{Action, Redirect, RequestHead, Table};
use crate::upstream::{Relayed, Upstreams};

pub type Body = Either<Relayed, Full<Bytes>>;

/// What every connection shares: the current table and the idle backend connections.
#[derive(Default)]
pub struct Shared {
    pub table: RwLock<Arc<Table>>,
    pub upstreams: Arc<Upstreams>,
}

#[derive(Clone, Copy, Debug)]
pub enum Scheme {
    Http,
    Https,
}

impl Scheme {
    fn as_str(self) -> &'static str {
        match self {
            Scheme::Http => "http",
            Scheme::Https => "https",
        }
    }
}

/// How long a backend may take to answer a request's head.
const BACKEND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// HTTP/2 clients send each cookie as its own field; an HTTP/1.1 backend must get them as
/// one `Cookie` line joined with "; " (RFC 9113 §8.2.3).
fn join_cookies(headers: &mut HeaderMap) {
    if headers.get_all(header::COOKIE).iter().nth(1).is_none() {
        return;
    }
    let joined: Vec<&[u8]> = headers
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if let Ok(v) = HeaderValue::from_bytes(&joined.join(&b"; "[..])) {
        headers.insert(header::COOKIE, v);
    }
}

/// The answer of a RequestRedirect rule: the same path and query elsewhere.
fn redirect<B>(r: &Redirect, req: &Request<B>, host: &str, scheme: Scheme) -> Response<Body> {
    let port = req.uri().port_u16().or_else(|| {
        let h = req.headers().get(header::HOST)?.to_str().ok()?;
        h.rsplit_once(':')
            .filter(|(_, p)| !p.ends_with(']'))?
            .1
            .parse()
            .ok()
    });
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let location = r.location(scheme.as_str(), host, port, path);
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::FOUND);
    let mut resp = reply(status, format!("{status}: {location}\n"));
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn reply(status: StatusCode, text: String) -> Response<Body> {
    let mut resp = Response::new(Either::Right(Full::new(Bytes::from(text))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

/// The request's host, lowercase, without the port (borrowed when already lowercase,
/// as it nearly always is).
fn host_of<B>(req: &Request<B>) -> Cow<'_, str> {
    let raw = req
        .uri()
        .host()
        .or_else(|| {
            let h = req.headers().get(header::HOST)?.to_str().ok()?;
            Some(match h.strip_prefix('[') {
                Some(_) => h.split(']').next().unwrap_or(h),
                None => h.rsplit_once(':').map_or(h, |(name, _)| name),
            })
        })
        .unwrap_or("");
    let host = raw
        .strip_prefix('[')
        .map_or(raw, |v6| v6.trim_end_matches(']'))
        .trim_end_matches('.');
    if host.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(host.to_ascii_lowercase())
    } else {
        Cow::Borrowed(host)
    }
}

/// A protocol switch to pass on (WebSocket and the like). HTTP/1.1's upgrade to h2c is
/// between the client and us, and we do not take it: the request is served as HTTP/1.1.
fn is_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .is_some_and(|u| !u.as_bytes().eq_ignore_ascii_case(b"h2c"))
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes hop-by-hop headers (those RFC 9110 names and those `Connection` lists); an
/// upgrade keeps `Connection: upgrade` and `Upgrade`, which the next hop must see.
fn strip_hop_by_hop(headers: &mut HeaderMap, upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && *n == header::UPGRADE))
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in [&KEEP_ALIVE, &PROXY_CONNECTION] {
        headers.remove(name);
    }
    headers.remove(header::TE);
    headers.remove(header::TRAILER);
    headers.remove(header::TRANSFER_ENCODING);
    if upgrade {
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(header::CONNECTION);
        headers.remove(header::UPGRADE);
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// The client's address, with its `X-Forwarded-For` value made once per connection.
#[derive(Clone)]
pub struct Peer {
    pub addr: SocketAddr,
    header: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr) -> Peer {
        let header = HeaderValue::from_str(&addr.ip().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Peer { addr, header }
    }

    fn ip(&self) -> std::net::IpAddr {
        self.addr.ip()
    }
}

pub async fn handle(
    shared: Arc<Shared>,
    mut req: Request<Incoming>,
    peer: Peer,
    scheme: Scheme,
) -> Result<Response<Body>, Infallible> {
    let table = crate::read(&shared.table).clone();
    let host = host_of(&req);
    let head = RequestHead {
        host: &host,
        path: req.uri().path(),
        query: req.uri().query(),
        method: req.method(),
        headers: req.headers(),
        https: matches!(scheme, Scheme::Https),
    };
    let Some(action) = table.route(&head) else {
        if !table.listed {
            return Ok(reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "503 Service Unavailable: the ingress controller is still loading its rules\n"
                    .into(),
            ));
        }
        return Ok(reply(
            StatusCode::NOT_FOUND,
            format!(
                "404 Not Found: no ingress rule for host {host:?} and path {:?}\n",
                req.uri().path()
            ),
        ));
    };
    let forward = match action.as_ref() {
        Action::Forward(f) => f,
        Action::Redirect(r) => return Ok(redirect(r, &req, &host, scheme)),
        Action::Fail(why) => {
            return Ok(reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("500 Internal Server Error: {why}\n"),
            ))
        }
    };
    let Some(target) = forward.pick() else {
        return Ok(reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "500 Internal Server Error: the rule has no backend to send to\n".into(),
        ));
    };
    let addr = match (target.pick(), &target.endpoints) {
        (Ok(addr), _) => addr,
        (Err(_), Ok(_)) => {
            return Ok(reply(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "503 Service Unavailable: no ready endpoints for service {}\n",
                    target.service
                ),
            ))
        }
        (Err(why), Err(_)) => {
            return Ok(reply(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("503 Service Unavailable: {why}\n"),
            ))
        }
    };
    let upgrade = req.version() == Version::HTTP_11 && is_upgrade(req.headers());
    let downstream = upgrade.then(|| hyper::upgrade::on(&mut req));

    let (mut parts, body) = req.into_parts();
    // The backend gets origin-form (`/path?query`); an HTTP/1.1 client's request nearly
    // always has it already, and then the URI is passed on untouched.
    let absolute = parts.uri.scheme().is_some() || parts.uri.authority().is_some();
    let authority = absolute
        .then(|| parts.uri.authority())
        .flatten()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok());
    if absolute || parts.uri.path_and_query().is_none() {
        let path = parts
            .uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| http::uri::PathAndQuery::from_static("/"));
        parts.uri = Uri::from(path);
    }
    // The request was routed by the URI's authority when it has one (HTTP/2, or an
    // absolute-form HTTP/1.1 target): the backend must see that host, not a different Host
    // header, or host-based routing could be sidestepped (RFC 9112 §3.2.2).
    let host_value = match (authority, parts.headers.get(header::HOST)) {
        (Some(a), _) => {
            parts.headers.insert(header::HOST, a.clone());
            a
        }
        (None, Some(h)) => h.clone(),
        (None, None) => {
            // HTTP/1.0 without a Host: the backend gets its own address, as an HTTP/1.1
            // request must name some host.
            if let Ok(v) = HeaderValue::from_str(&addr.to_string()) {
                parts.headers.insert(header::HOST, v);
            }
            HeaderValue::from_static("")
        }
    };
    if parts.version == Version::HTTP_2 {
        join_cookies(&mut parts.headers);
    }
    parts.version = Version::HTTP_11;
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers, upgrade);
    forward.headers.apply(headers);
    let forwarded_for = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(prior) => HeaderValue::from_str(&format!("{prior}, {}", peer.ip())).ok(),
        // The usual case: the connection's address, formatted once per connection.
        None => Some(peer.header.clone()),
    };
    if let Some(v) = forwarded_for {
        headers.insert(X_FORWARDED_FOR.clone(), v);
    }
    headers.insert(
        X_FORWARDED_PROTO.clone(),
        HeaderValue::from_static(scheme.as_str()),
    );
    headers.insert(X_FORWARDED_HOST.clone(), host_value);

    let req = Request::from_parts(parts, body);
    let sent = async {
        if upgrade {
            Upstreams::send_upgrade(addr, req).await
        } else {
            shared.upstreams.send(addr, req).await
        }
    };
    // A backend that takes the request and never answers: 504, as ingress-nginx's
    // 60 s proxy read timeout gives.
    let answered = match tokio::time::timeout(BACKEND_TIMEOUT, sent).await {
        Ok(r) => r,
        Err(_) => {
            tracing::debug!(backend = %addr, service = %target.service, "backend timed out");
            return Ok(reply(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "504 Gateway Timeout: service {} did not answer within {}s\n",
                    target.service,
                    BACKEND_TIMEOUT.as_secs()
                ),
            ));
        }
    };
    let mut resp = match answered {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(backend = %addr, service = %target.service, error = %error_chain(&e), "backend failed");
            return Ok(reply(
                StatusCode::BAD_GATEWAY,
                format!(
                    "502 Bad Gateway: backend {addr} of service {} failed: {}\n",
                    target.service,
                    error_chain(&e)
                ),
            ));
        }
    };
    let switched = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
    if let (Some(downstream), true) = (downstream, switched) {
        let upstream = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            match tokio::join!(downstream, upstream) {
                (Ok(down), Ok(up)) => {
                    let (mut down, mut up) = (TokioIo::new(down), TokioIo::new(up));
                    let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                }
                (Err(e), _) | (_, Err(e)) => {
                    tracing::debug!(error = %e, "upgrade through the ingress failed")
                }
            }
        });
    }
    strip_hop_by_hop(resp.headers_mut(), switched && upgrade);
    Ok(resp.map(Either::Left))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        let cases = [
            ("http://Foo.Example.com:8080/x", None, "foo.example.com"),
            ("/x", Some("Foo.example.com:80"), "foo.example.com"),
            ("/x", Some("foo.example.com."), "foo.example.com"),
            ("/x", Some("[::1]:80"), "::1"),
            ("http://[::1]:8080/x", None, "::1"),
            ("/x", Some("bare"), "bare"),
            ("/x", None, ""),
        ];
        for (uri, host, want) in cases {
            let mut b = Request::builder().uri(uri);
            if let Some(h) = host {
                b = b.header(header::HOST, h);
            }
            assert_eq!(host_of(&b.body(()).unwrap()), want, "{uri} {host:?}");
        }
    }

    #[test]
    fn cookies_joined() {
        let cases: [&[&str]; 3] = [&[], &["a=1"], &["a=1", "b=2", "c=3"]];
        for cookies in cases {
            let mut h = HeaderMap::new();
            for c in cookies {
                h.append(header::COOKIE, HeaderValue::from_static(c));
            }
            join_cookies(&mut h);
            let got: Vec<_> = h.get_all(header::COOKIE).iter().collect();
            let want: Vec<HeaderValue> = if cookies.is_empty() {
                vec![]
            } else {
                vec![HeaderValue::from_str(&cookies.join("; ")).unwrap()]
            };
            assert_eq!(got, want.iter().collect::<Vec<_>>(), "{cookies:?}");
        }
    }

    #[test]
    fn hop_by_hop_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, X-Drop, Upgrade"),
        );
        h.insert("x-drop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        let mut plain = h.clone();
        strip_hop_by_hop(&mut plain, false);
        let mut names: Vec<_> = plain.keys().map(|k| k.as_str()).collect();
        names.sort();
        assert_eq!(names, ["x-keep"]);
        strip_hop_by_hop(&mut h, true);
        let mut names: Vec<_> = h.iter().map(|(k, v)| format!("{k}: {v:?}")).collect();
        names.sort();
        assert_eq!(
            names,
            [
                "connection: \"upgrade\"",
                "upgrade: \"websocket\"",
                "x-keep: \"1\""
            ]
        );
    }
}
