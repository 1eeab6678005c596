//! `skiff-testimage`: the one program inside skiff's test images, in the spirit of upstream's
//! agnhost. std only, linked statically, so an image is this file and nothing else.
//!
//! Invoked as `pause` (argv[0]'s file name) it is the sandbox's pause process: it sleeps
//! until SIGTERM or SIGINT and reaps orphans meanwhile.
//!
//! Subcommands:
//!   serve-http [--port P] [--unhealthy] [--keep-alive]
//!                                        HTTP/1.1 server; GET /healthz answers 200 "ok" or 500,
//!                                        /fail and /recover flip it, /hostname, /env, /headers,
//!                                        /exit?code=N; other paths: the path and the hostname;
//!                                        a request with `Upgrade` gets 101 and an echo. Each
//!                                        connection is closed after one answer, unless
//!                                        --keep-alive: then HTTP/1.1 connections stay open
//!                                        (one thread per connection), as benchmarks need
//!   exit N                               exit with code N
//!   sleep S                              sleep S seconds (fractions allowed), then exit 0
//!   alloc MiB [--then-sleep S]           allocate and touch MiB mebibytes, then sleep (forever)
//!   env                                  print the environment, one KEY=value a line
//!   cat [--every S] [FILE...]            print files (every S seconds, forever, with --every;
//!                                        no files: copy stdin to stdout)
//!   id                                   print uid=N gid=N groups=A,B (from /proc/self/status)
//!   write FILE TEXT [--then-sleep S]     write TEXT to FILE (fails on a read-only file system)
//!   http-get HOST:PORT PATH [N]          N (default 1) GETs, 200 ms apart; prints each body's
//!                                        first line, or `error: ... (after N ms)`; then sleeps
//!                                        forever. A HOST that is a name is looked up before
//!                                        each GET as `lookup` does (search list, cluster DNS)
//!   print-lines COUNT INTERVAL [--exit C] `run <id>`, then `line 1`..`line COUNT`, INTERVAL s
//!                                        apart; then exit C or wait for SIGTERM
//!   tty-size [S]                         after S s, print the stdin terminal's `ROWS COLS`
//!   lookup NAME [TYPE] [TRIES]           DNS lookup through /etc/resolv.conf (see lookup.rs)
//!   pause                                as when invoked as `pause`
//!
//! Invoked as `tar` (the image's /bin/tar) it is the tar `kubectl cp` runs: `cf - PATH`,
//! `xmf - -C DIR`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

mod lookup;
mod streams;
mod tar;

mod sys {
    //! The few libc calls std does not wrap. libc is linked anyway (statically).
    use std::os::raw::c_int;

    pub const SIGINT: c_int = 2;
    pub const SIGTERM: c_int = 15;
    pub const SIGCHLD: c_int = 17;
    const WNOHANG: c_int = 1;

    extern "C" {
        fn signal(sig: c_int, handler: extern "C" fn(c_int)) -> usize;
        fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
        fn pause() -> c_int;
        fn _exit(code: c_int) -> !;
    }

    extern "C" fn exit_on_signal(sig: c_int) {
        // Only async-signal-safe calls here. 128+n would read as "killed", but a process
        // that handles SIGTERM and stops cleanly exits 0, as agnhost and pause do.
        let _ = sig;
        // SAFETY: _exit is async-signal-safe and never returns.
        unsafe { _exit(0) }
    }

    extern "C" fn reap(_sig: c_int) {
        let mut status = 0;
        // SAFETY: waitpid is async-signal-safe; the pointer is to a live local.
        while unsafe { waitpid(-1, &mut status, WNOHANG) } > 0 {}
    }

    /// As PID 1 in a container a signal without a handler is ignored, so a container would
    /// always wait out its grace period; exit on SIGTERM/SIGINT instead.
    pub fn exit_on_term() {
        // SAFETY: installing plain handlers that only call async-signal-safe functions.
        unsafe {
            signal(SIGTERM, exit_on_signal);
            signal(SIGINT, exit_on_signal);
        }
    }

    pub fn reap_children() {
        // SAFETY: as above.
        unsafe {
            signal(SIGCHLD, reap);
        }
    }

    pub fn wait_forever() -> ! {
        loop {
            // SAFETY: pause only blocks until a signal arrives.
            unsafe {
                pause();
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let invoked_as = args
        .first()
        .and_then(|a| a.rsplit('/').next())
        .unwrap_or("");
    if invoked_as == "pause" {
        pause_process();
    }
    if invoked_as == "tar" {
        let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
        return match tar::main(&rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    let rest: Vec<&str> = args.iter().skip(2).map(String::as_str).collect();
    let result = match args.get(1).map(String::as_str) {
        Some("pause") => pause_process(),
        Some("serve-http") => serve_http(&rest),
        Some("exit") => return exit(&rest),
        Some("sleep") => sleep(&rest),
        Some("alloc") => alloc(&rest),
        Some("env") => {
            let mut env: Vec<(String, String)> = std::env::vars().collect();
            env.sort();
            for (k, v) in env {
                println!("{k}={v}");
            }
            Ok(())
        }
        Some("cat") if rest.is_empty() => streams::copy_stdin(),
        Some("cat") => cat(&rest),
        Some("id") => id(),
        Some("write") => write(&rest),
        Some("http-get") => http_get(&rest),
        Some("tty-size") => streams::tty_size(&rest),
        Some("print-lines") => match streams::print_lines(&rest) {
            Ok(Some(code)) => return ExitCode::from(code),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        },
        Some("lookup") => lookup::run(&rest),
        Some(other) => Err(format!("unknown subcommand {other:?}")),
        None => Err(
            "usage: skiff-testimage serve-http|exit|sleep|alloc|env|cat|id|write|http-get|pause ...".into(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skiff-testimage: {e}");
            ExitCode::from(2)
        }
    }
}

/// A client for service tests: its output (the container's log) says which backend answered.
fn http_get(args: &[&str]) -> Result<(), String> {
    let addr = args.first().ok_or("http-get: want HOST:PORT PATH [N]")?;
    let path = args.get(1).copied().unwrap_or("/");
    let n: usize = args
        .get(2)
        .map_or(Ok(1), |c| c.parse())
        .map_err(|_| "http-get: N must be a number")?;
    for _ in 0..n {
        let started = std::time::Instant::now();
        let line = match get_once(addr, path) {
            Ok(body) => body.lines().next().unwrap_or("").to_string(),
            // How long a failure took tells a refusal from a timeout.
            Err(e) => format!("error: {e} (after {} ms)", started.elapsed().as_millis()),
        };
        println!("{line}");
        std::thread::sleep(Duration::from_millis(200));
    }
    sys::exit_on_term();
    sys::wait_forever()
}

fn get_once(addr: &str, path: &str) -> std::io::Result<String> {
    let (host, port) = addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .ok_or_else(|| std::io::Error::other("want HOST:PORT"))?;
    // Static glibc has no NSS, so names go through our own stub resolver.
    let ip: std::net::IpAddr = match host.parse() {
        Ok(ip) => ip,
        Err(_) => lookup::resolve_v4(host)
            .map_err(std::io::Error::other)?
            .into(),
    };
    let target = std::net::SocketAddr::new(ip, port);
    let mut s = TcpStream::connect_timeout(&target, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    Ok(reply
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
        .unwrap_or_default())
}

fn pause_process() -> ! {
    sys::exit_on_term();
    sys::reap_children();
    sys::wait_forever()
}

fn exit(args: &[&str]) -> ExitCode {
    match args.first().map(|c| c.parse::<u8>()) {
        Some(Ok(code)) => ExitCode::from(code),
        _ => {
            eprintln!("skiff-testimage: usage: exit CODE (0-255)");
            ExitCode::from(2)
        }
    }
}

fn seconds(arg: Option<&&str>) -> Result<Duration, String> {
    let s = arg.ok_or("missing seconds")?;
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?}: not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

fn sleep(args: &[&str]) -> Result<(), String> {
    sys::exit_on_term();
    std::thread::sleep(seconds(args.first())?);
    Ok(())
}

fn alloc(args: &[&str]) -> Result<(), String> {
    sys::exit_on_term();
    let mib: usize = args
        .first()
        .and_then(|m| m.parse().ok())
        .ok_or("usage: alloc MiB [--then-sleep SECONDS]")?;
    let mut chunks = Vec::with_capacity(mib);
    for _ in 0..mib {
        // Touch every page so the memory is resident and counted by the cgroup.
        chunks.push(vec![1u8; 1 << 20]);
    }
    println!("allocated {mib} MiB");
    let _ = std::io::stdout().flush();
    match args.iter().position(|a| *a == "--then-sleep") {
        Some(i) => std::thread::sleep(seconds(args.get(i + 1))?),
        None => sys::wait_forever(),
    }
    drop(chunks);
    Ok(())
}

fn cat(args: &[&str]) -> Result<(), String> {
    let mut out = std::io::stdout();
    let ["--every", secs, files @ ..] = args else {
        for f in args {
            let data = std::fs::read(f).map_err(|e| format!("{f}: {e}"))?;
            out.write_all(&data).map_err(|e| e.to_string())?;
        }
        return Ok(());
    };
    // For files that change under a running container (configMap volumes): print them
    // again and again; a missing file is reported and waited for.
    sys::exit_on_term();
    let every = seconds(Some(secs))?;
    loop {
        for f in files {
            match std::fs::read(f) {
                Ok(data) => {
                    let _ = out.write_all(&data);
                    let _ = out.write_all(b"\n");
                }
                Err(e) => eprintln!("{f}: {e}"),
            }
        }
        let _ = out.flush();
        std::thread::sleep(every);
    }
}

fn id() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    // Uid/Gid lines hold real, effective, saved and fs ids; the effective one is shown.
    let uid = field("Uid:").get(1).copied().unwrap_or("?").to_string();
    let gid = field("Gid:").get(1).copied().unwrap_or("?").to_string();
    println!("uid={uid} gid={gid} groups={}", field("Groups:").join(","));
    Ok(())
}

fn write(args: &[&str]) -> Result<(), String> {
    let (Some(file), Some(text)) = (args.first(), args.get(1)) else {
        return Err("usage: write FILE TEXT [--then-sleep S]".into());
    };
    std::fs::write(file, text).map_err(|e| format!("{file}: {e}"))?;
    println!("wrote {file}");
    if args.get(2) == Some(&"--then-sleep") {
        sleep(&args[3..])?;
    }
    Ok(())
}

fn serve_http(args: &[&str]) -> Result<(), String> {
    sys::exit_on_term();
    let mut port = 8080u16;
    let mut healthy = true;
    let mut keep_alive = false;
    let mut i = 0;
    while i < args.len() {
        match args[i] {
            "--port" => {
                port = args
                    .get(i + 1)
                    .and_then(|p| p.parse().ok())
                    .ok_or("--port wants a number")?;
                i += 1;
            }
            "--unhealthy" => healthy = false,
            "--keep-alive" => keep_alive = true,
            other => return Err(format!("serve-http: unknown flag {other:?}")),
        }
        i += 1;
    }
    let listener =
        TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("listening on {port}: {e}"))?;
    println!("serving HTTP on :{port}");
    let _ = std::io::stdout().flush();
    let healthy = Arc::new(AtomicBool::new(healthy));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let healthy = healthy.clone();
        std::thread::spawn(move || {
            if let Err(e) = serve_connection(stream, &healthy, keep_alive) {
                eprintln!("request: {e}");
            }
        });
    }
    Ok(())
}

/// Idle time after which a kept-alive connection is closed.
const KEEP_ALIVE_IDLE: Duration = Duration::from_secs(120);

fn serve_connection(
    stream: TcpStream,
    healthy: &AtomicBool,
    keep_alive: bool,
) -> std::io::Result<()> {
    if !keep_alive {
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        let mut reader = BufReader::new(stream.try_clone()?);
        handle(&mut reader, stream, healthy, false)?;
        return Ok(());
    }
    // Small answers are written whole; Nagle would hold each back for the peer's ACK.
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(KEEP_ALIVE_IDLE))?;
    // One reader for the connection's life: it may hold the start of the next request.
    let mut reader = BufReader::new(stream.try_clone()?);
    while handle(&mut reader, &stream, healthy, true)? {}
    Ok(())
}

/// Answers one request. Returns whether the connection stays open for another one.
fn handle(
    reader: &mut BufReader<TcpStream>,
    stream: impl Write,
    healthy: &AtomicBool,
    keep_alive: bool,
) -> std::io::Result<bool> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line)? == 0 {
        return Ok(false);
    }
    // HTTP/1.1 persists by default; HTTP/1.0 and `Connection: close` do not.
    let mut persist = keep_alive && request_line.trim_end().ends_with("HTTP/1.1");
    let mut content_length = 0usize;
    let mut headers = String::new();
    let mut upgrade = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" || line == "\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.trim().parse().unwrap_or(0);
            }
            if k.eq_ignore_ascii_case("upgrade") {
                upgrade = Some(v.trim().to_string());
            }
            if k.eq_ignore_ascii_case("connection")
                && v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close"))
            {
                persist = false;
            }
            headers.push_str(&format!("{}: {}\n", k.to_ascii_lowercase(), v.trim()));
        }
    }
    if let Some(protocol) = upgrade {
        // A stand-in for WebSocket: switch protocols, then echo every byte back.
        let mut out = stream;
        write!(
            out,
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: {protocol}\r\nConnection: Upgrade\r\n\r\n"
        )?;
        out.flush()?;
        let mut buf = [0u8; 4096];
        loop {
            let n = reader.read(&mut buf)?;
            if n == 0 {
                return Ok(false);
            }
            out.write_all(&buf[..n])?;
        }
    }
    let mut body = vec![0; content_length.min(1 << 20)];
    reader.read_exact(&mut body)?;
    let target = request_line.split_whitespace().nth(1).unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let (status, text) = if path == "/headers" {
        ("200 OK", headers)
    } else {
        route(path, query, healthy)
    };
    let connection = if persist { "keep-alive" } else { "close" };
    // One write per answer: with TCP_NODELAY, each write is a packet.
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{text}",
        text.len()
    );
    let mut out = stream;
    out.write_all(answer.as_bytes())?;
    out.flush()?;
    if path == "/exit" {
        let code = query
            .split('&')
            .find_map(|kv| kv.strip_prefix("code="))
            .and_then(|c| c.parse::<i32>().ok())
            .unwrap_or(0);
        std::process::exit(code);
    }
    Ok(persist)
}

fn route(path: &str, _query: &str, healthy: &AtomicBool) -> (&'static str, String) {
    match path {
        "/healthz" | "/readyz" => {
            if healthy.load(Ordering::SeqCst) {
                ("200 OK", "ok\n".into())
            } else {
                ("500 Internal Server Error", "failing\n".into())
            }
        }
        "/fail" => {
            healthy.store(false, Ordering::SeqCst);
            ("200 OK", "healthz now fails\n".into())
        }
        "/recover" => {
            healthy.store(true, Ordering::SeqCst);
            ("200 OK", "healthz now succeeds\n".into())
        }
        "/hostname" => ("200 OK", hostname()),
        "/env" => {
            let mut env: Vec<String> = std::env::vars()
                .map(|(k, v)| format!("{k}={v}\n"))
                .collect();
            env.sort();
            ("200 OK", env.concat())
        }
        "/exit" => ("200 OK", "exiting\n".into()),
        _ => (
            "200 OK",
            format!("skiff-testimage {path} on {}\n", hostname().trim()),
        ),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        let healthy = AtomicBool::new(true);
        let mut seen = Vec::new();
        for path in ["/healthz", "/fail", "/healthz", "/recover", "/readyz"] {
            let (status, body) = route(path, "", &healthy);
            seen.push(format!("{path} -> {status} {}", body.trim()));
        }
        assert_text(
            &seen.join("\n"),
            "/healthz -> 200 OK ok\n/fail -> 200 OK healthz now fails\n/healthz -> 500 Internal Server Error failing\n/recover -> 200 OK healthz now succeeds\n/readyz -> 200 OK ok",
        );
    }

    /// Serves one accepted connection of a loopback listener with `keep_alive`, sends
    /// `requests` on one client connection, and returns all that came back until EOF.
    fn exchange(keep_alive: bool, requests: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            serve_connection(stream, &AtomicBool::new(true), keep_alive).unwrap();
        });
        let mut client = TcpStream::connect(addr).unwrap();
        client.write_all(requests.as_bytes()).unwrap();
        let mut got = String::new();
        client.read_to_string(&mut got).unwrap();
        server.join().unwrap();
        got.lines()
            .filter(|l| l.starts_with("HTTP/") || l.starts_with("Connection:") || *l == "ok")
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn keep_alive_serves_requests_until_close() {
        let two = "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n\
                   GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        assert_text(
            &exchange(true, two),
            "HTTP/1.1 200 OK\nConnection: keep-alive\nok\nHTTP/1.1 200 OK\nConnection: close\nok",
        );
        // Without --keep-alive the answer closes the connection, as before.
        assert_text(
            &exchange(false, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n"),
            "HTTP/1.1 200 OK\nConnection: close\nok",
        );
        // HTTP/1.0 does not persist by default.
        assert_text(
            &exchange(true, "GET /healthz HTTP/1.0\r\n\r\n"),
            "HTTP/1.1 200 OK\nConnection: close\nok",
        );
    }

    // A plain comparison that prints both sides (the crate has no dependencies).
    fn assert_text(got: &str, want: &str) {
        assert_eq!(got, want, "\ngot:\n{got}\nwant:\n{want}");
    }
}
