//! kubectl's node paths against real containers: `kubectl logs` (tail, timestamps,
//! limit-bytes, follow, previous, a container still waiting), `kubectl exec` (exit codes with
//! kubectl 1.37 and the system's 1.32, `-it` under a pty), `kubectl port-forward` with HTTP
//! through it, and `kubectl top node/pod`. The apiserver reaches the agent's HTTPS server
//! with its kubelet-client certificate; anyone else is turned away.
//!
//! Needs root and the packages agent_containers.rs names.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use testkit::node::{http_get, NodeHost};
use testkit::pty::{kubectl_line, under_pty};
use testkit::{eventually, Kubectl};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

fn pod(name: &str, image: &str, node: &str, restart: &str, args: &[&str]) -> String {
    let args: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  nodeName: {node}\n  restartPolicy: {restart}\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: {image}\n    command: [\"/skiff-testimage\"]\n    args: [{}]\n",
        args.join(", ")
    )
}

fn wait_running(kubectl: &Kubectl, name: &str) {
    eventually(
        &format!("pod {name} Running"),
        Duration::from_secs(120),
        || kubectl.ok(&["get", "pod", name, "-o", "jsonpath={.status.phase}"]),
        |p| p == "Running",
    );
}

#[test]
fn kubectl_node_paths() {
    let mut host = NodeHost::new();
    let server = host.server(bin(), &[]);
    let kubectl = server.kubectl();
    let node = format!("streams-{}", std::process::id());
    host.start_agent(bin(), &server, &node);
    let image = host.image();

    // The agent publishes its server's port; it is a free one, not 10250.
    let port = kubectl.ok(&[
        "get",
        "node",
        &node,
        "-o",
        "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}",
    ]);
    let port: u16 = port.trim().parse().expect("kubelet port");
    assert!(port > 0);
    // Without the apiserver's client certificate the agent refuses the TLS handshake.
    let anon = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("https://127.0.0.1:{port}/stats/summary"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&anon.stdout), "000");
    // A certificate from the cluster CA that is not the apiserver's: refused.
    let tls = server.data_dir().join("tls");
    let admin = Command::new("curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "--cert"])
        .arg(tls.join("admin.crt"))
        .arg("--key")
        .arg(tls.join("admin.key"))
        .arg(format!("https://127.0.0.1:{port}/stats/summary"))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&admin.stdout), "403");

    let manifests = [
        pod(
            "printer",
            &image,
            &node,
            "Always",
            &["print-lines", "3", "0.05"],
        ),
        pod(
            "crasher",
            &image,
            &node,
            "Always",
            &["print-lines", "30", "0.1", "--exit", "1"],
        ),
        pod(
            "ticker",
            &image,
            &node,
            "Never",
            &["print-lines", "20", "0.1", "--exit", "0"],
        ),
        pod(
            "web",
            &image,
            &node,
            "Always",
            &["serve-http", "--port", "8080"],
        ),
        pod(
            "talker",
            &image,
            &node,
            "Always",
            &["print-lines", "100000", "0.2"],
        ),
        // A container with a terminal and stdin, for `attach -it`.
        pod("console", &image, &node, "Always", &["cat"]).replace(
            "    command:",
            "    stdin: true\n    tty: true\n    command:",
        ),
        pod(
            "unpullable",
            &format!("{}/skiff/nonexistent:1", host.registry()),
            &node,
            "Always",
            &["sleep", "1"],
        ),
    ];
    kubectl.ok_stdin(&["apply", "-f", "-"], &manifests.join("---\n"));
    wait_running(&kubectl, "printer");

    // logs: whole, tail, timestamps, limit-bytes.
    let all = eventually(
        "printer's three lines",
        Duration::from_secs(20),
        || kubectl.ok(&["logs", "printer"]),
        |l| l.contains("line 3"),
    );
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 4, "{all}");
    assert!(lines[0].starts_with("run "), "{all}");
    assert_eq!(&lines[1..], ["line 1", "line 2", "line 3"]);
    assert_eq!(
        kubectl.ok(&["logs", "printer", "--tail=2"]),
        "line 2\nline 3\n"
    );
    assert_eq!(
        kubectl.ok(&["logs", "printer", "-c", "main", "--limit-bytes=4"]),
        "run "
    );
    let stamped = kubectl.ok(&["logs", "printer", "--timestamps", "--tail=1"]);
    let (stamp, text) = stamped.trim_end().split_once(' ').expect("timestamp");
    assert_eq!(text, "line 3");
    assert!(stamp.ends_with('Z') && stamp.contains('T'), "{stamped}");
    assert_eq!(
        kubectl.ok(&["logs", "printer", "--since=1h", "--tail=1"]),
        "line 3\n"
    );
    assert_eq!(
        kubectl.ok(&["logs", "printer", "--all-containers", "--tail=1"]),
        "line 3\n"
    );
    let err = kubectl.fails(&["logs", "printer", "-c", "nope"]);
    assert!(
        err.contains("container nope is not valid for pod printer"),
        "{err}"
    );
    // No earlier container yet.
    let err = kubectl.fails(&["logs", "printer", "--previous"]);
    assert!(
        err.contains("previous terminated container \"main\" in pod \"printer\" not found"),
        "{err}"
    );

    // follow: streams until the container ends.
    wait_running(&kubectl, "ticker");
    let mut follow = kubectl.spawn_lines(&["logs", "-f", "ticker"]);
    let st = follow.wait_exit(Duration::from_secs(30));
    assert!(
        st.is_some_and(|s| s.success()),
        "logs -f did not end: {:?}",
        follow.lines()
    );
    let got = follow.lines();
    assert_eq!(got.len(), 21, "{got:?}");
    assert_eq!(got.last().map(String::as_str), Some("line 20"));

    // previous: the crashed run's log, not the running one's.
    eventually(
        "crasher restarted and running",
        Duration::from_secs(60),
        || {
            kubectl.ok(&[
                "get",
                "pod",
                "crasher",
                "-o",
                "jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.running.startedAt}",
            ])
        },
        |s| {
            let mut f = s.split(' ');
            f.next()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 1)
                && f.next().is_some_and(|t| !t.is_empty())
        },
    );
    let previous = kubectl.ok(&["logs", "crasher", "--previous"]);
    let current = kubectl.ok(&["logs", "crasher"]);
    assert!(previous.contains("line 30"), "{previous}");
    assert!(current.starts_with("run "), "{current}");
    assert_ne!(
        previous.lines().next(),
        current.lines().next(),
        "two runs, two ids"
    );

    // A container that never started: the kubelet's message.
    let err = eventually(
        "logs of a container that cannot start",
        Duration::from_secs(30),
        || kubectl.fails(&["logs", "unpullable"]),
        |e| e.contains("is waiting to start"),
    );
    assert!(
        err.contains("container \"main\" in pod \"unpullable\" is waiting to start"),
        "{err}"
    );

    // exec: output and exit codes, with both kubectl versions (WebSocket).
    assert_eq!(
        kubectl
            .ok(&[
                "exec",
                "printer",
                "--",
                "/skiff-testimage",
                "cat",
                "/etc/hostname"
            ])
            .trim(),
        "printer"
    );
    let system = server.kubectl_with(&testkit::kubectl_system());
    for k in [&kubectl, &system] {
        let out = k.run(&["exec", "printer", "--", "/skiff-testimage", "exit", "3"]);
        assert_eq!(out.status.code(), Some(3), "{} {:?}", k.bin.display(), out);
    }
    let out = system.run(&[
        "exec",
        "printer",
        "-c",
        "main",
        "--",
        "/skiff-testimage",
        "env",
    ]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("PATH="),
        "{out:?}"
    );
    // stdin reaches the process and its end does too (v5's CLOSE; SPDY's FIN).
    let input = "hello\nworld\n";
    for k in [&kubectl, &system] {
        let out = k.ok_stdin(
            &["exec", "-i", "printer", "--", "/skiff-testimage", "cat"],
            input,
        );
        assert_eq!(out, input, "{}", k.bin.display());
    }
    // A few MiB each way (far past SPDY's initial 64 KiB window).
    let big: String = (0..200_000).map(|i| format!("{i:09}\n")).collect();
    let started = Instant::now();
    let out = kubectl.ok_stdin(
        &["exec", "-i", "printer", "--", "/skiff-testimage", "cat"],
        &big,
    );
    eprintln!(
        "2 MB through exec -i cat and back in {:?}",
        started.elapsed()
    );
    assert!(out == big, "{} bytes back of {}", out.len(), big.len());
    // Older clients speak SPDY: the same through the runtime's SPDY server.
    let spdy = |args: &[&str], stdin: &str| {
        let mut child = system
            .cmd(args)
            .env("KUBECTL_REMOTE_COMMAND_WEBSOCKETS", "false")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl");
        let mut pipe = child.stdin.take().expect("stdin");
        let _ = pipe.write_all(stdin.as_bytes());
        drop(pipe);
        child.wait_with_output().expect("kubectl output")
    };
    let out = spdy(
        &["exec", "printer", "--", "/skiff-testimage", "exit", "3"],
        "",
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let out = spdy(
        &["exec", "-i", "printer", "--", "/skiff-testimage", "cat"],
        input,
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), input, "{out:?}");

    // attach: the running container's output.
    wait_running(&kubectl, "talker");
    let mut attach = kubectl.spawn_lines(&["attach", "talker"]);
    eventually(
        "attach shows new lines",
        Duration::from_secs(20),
        || attach.lines(),
        |l| l.iter().any(|x| x.starts_with("line ")),
    );
    attach.kill();

    // exec -it under a pty: the terminal echoes, cat answers, ^D ends it.
    let cmd = kubectl_line(&kubectl, "exec -it printer -- /skiff-testimage cat");
    let (code, out) = under_pty(&cmd, &["hello-pty\r", "\x04"], Duration::from_secs(20));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.matches("hello-pty").count() >= 2, "{out:?}");
    // attach -it: the container's own terminal; ^D ends its cat, and so the session.
    wait_running(&kubectl, "console");
    let cmd = kubectl_line(&kubectl, "attach -it console");
    let (code, out) = under_pty(&cmd, &["hi-attach\r", "\x04"], Duration::from_secs(20));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.matches("hi-attach").count() >= 2, "{out:?}");

    // The terminal's size travels on the resize channel.
    let cmd = format!(
        "stty rows 41 cols 123; {}",
        kubectl_line(&kubectl, "exec -it printer -- /skiff-testimage tty-size 1")
    );
    let (code, out) = under_pty(&cmd, &[], Duration::from_secs(20));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("41 123"), "{out:?}");

    // cp both ways (the image's /bin/tar is our testimage's tar mode).
    let scratch = std::env::temp_dir().join(format!("skiff-cp-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let fetched = scratch.join("hostname");
    kubectl.ok(&["cp", "printer:/etc/hostname", &fetched.to_string_lossy()]);
    assert_eq!(
        std::fs::read_to_string(&fetched).expect("copied").trim(),
        "printer"
    );
    let upload = scratch.join("up.txt");
    std::fs::write(&upload, "uploaded\n").expect("write");
    kubectl.ok(&["cp", &upload.to_string_lossy(), "printer:/up.txt"]);
    assert_eq!(
        kubectl.ok(&[
            "exec",
            "printer",
            "--",
            "/skiff-testimage",
            "cat",
            "/up.txt"
        ]),
        "uploaded\n"
    );
    let _ = std::fs::remove_dir_all(&scratch);

    // port-forward, then HTTP through it.
    wait_running(&kubectl, "web");
    let mut pf = kubectl.spawn_lines(&["port-forward", "pod/web", ":8080"]);
    let fwd = eventually(
        "port-forward listening",
        Duration::from_secs(20),
        || pf.lines(),
        |l| {
            l.iter()
                .any(|x| x.starts_with("Forwarding from 127.0.0.1:"))
        },
    );
    let local: u16 = fwd
        .iter()
        .find_map(|x| x.strip_prefix("Forwarding from 127.0.0.1:"))
        .and_then(|x| x.split(' ').next())
        .and_then(|p| p.parse().ok())
        .expect("local port");
    for _ in 0..2 {
        let reply = eventually(
            "HTTP through the port-forward",
            Duration::from_secs(20),
            || http_get("127.0.0.1", local, "/healthz"),
            |r| r.as_deref().is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        );
        assert!(reply.is_some_and(|r| r.ends_with("ok\n")));
    }
    pf.kill();
    // The same with SPDY (older kubectl).
    let mut pf = system
        .cmd(&["port-forward", "pod/web", ":8080"])
        .env("KUBECTL_PORT_FORWARD_WEBSOCKETS", "false")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kubectl port-forward");
    // The pipe stays drained: kubectl writes a line per connection and would die of EPIPE.
    let stdout = pf.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
    let local: u16 = first
        .strip_prefix("Forwarding from 127.0.0.1:")
        .and_then(|x| x.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("port-forward said {first:?}"));
    let reply = eventually(
        "HTTP through the SPDY port-forward",
        Duration::from_secs(20),
        || http_get("127.0.0.1", local, "/healthz"),
        |r| r.as_deref().is_some_and(|r| r.starts_with("HTTP/1.1 200")),
    );
    let _ = pf.kill();
    let _ = pf.wait();
    assert!(reply.is_some_and(|r| r.ends_with("ok\n")));

    // top: metrics.k8s.io from the agent's stats.
    let top = eventually(
        "kubectl top node",
        Duration::from_secs(30),
        || kubectl.run(&["top", "node"]),
        |o| o.status.success(),
    );
    let top = String::from_utf8_lossy(&top.stdout).to_string();
    assert!(top.starts_with("NAME") && top.contains(&node), "{top}");
    let top = eventually(
        "kubectl top pod",
        Duration::from_secs(30),
        || kubectl.run(&["top", "pod", "printer", "--containers"]),
        |o| o.status.success(),
    );
    let top = String::from_utf8_lossy(&top.stdout).to_string();
    assert!(
        top.contains("printer") && top.contains("main") && top.contains("Mi"),
        "{top}"
    );

    // The agent's own paths through nodes/proxy, as `kubectl get --raw` reaches a kubelet.
    let summary = kubectl.ok(&[
        "get",
        "--raw",
        &format!("/api/v1/nodes/{node}/proxy/stats/summary"),
    ]);
    assert!(
        summary.contains("\"podRef\"") && summary.contains(&node),
        "{summary}"
    );

    // Latencies, for the report (kubectl's own start-up included).
    let timed = |args: &[&str]| {
        let start = Instant::now();
        let out = kubectl.run(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        start.elapsed()
    };
    let logs = timed(&["logs", "printer"]);
    let exec = timed(&["exec", "printer", "--", "/skiff-testimage", "exit", "0"]);
    let version = timed(&["version"]);
    eprintln!("kubectl version {version:?}, logs {logs:?}, exec {exec:?}");

    kubectl.ok(&["delete", "pod", "--all", "--grace-period=1", "--wait=true"]);
}
