//! The API server goes away under a running node: the agent waits for it quietly (its
//! watches back off between reconnects and burn next to no CPU), its pods keep running, and
//! when the server is back the node is Ready again and takes new pods.

use std::path::Path;
use std::time::{Duration, Instant};

use testkit::eventually;
use testkit::node::{wait_node_ready, NodeHost};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_skiff"))
}

/// User plus system CPU time of a process, from /proc/PID/stat.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("process stat");
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    let per_second = String::from_utf8(
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf")
            .stdout,
    )
    .expect("utf-8")
    .trim()
    .parse::<u64>()
    .expect("CLK_TCK");
    Duration::from_millis(ticks * 1000 / per_second)
}

fn phase(kubectl: &testkit::Kubectl, pod: &str) -> String {
    kubectl.ok(&["get", "pod", pod, "-o", "jsonpath={.status.phase}"])
}

#[test]
fn agent_rides_out_an_api_server_outage() {
    let mut host = NodeHost::new();
    let image = host.image();
    let mut server = host.server(bin(), &[]);
    host.start_agent(bin(), &server, "steady");
    let kubectl = server.kubectl();
    kubectl.ok(&[
        "run",
        "before",
        &format!("--image={image}"),
        "--",
        "sleep",
        "3600",
    ]);
    eventually(
        "the first pod Running",
        Duration::from_secs(60),
        || phase(&kubectl, "before"),
        |p| p == "Running",
    );
    let pid = host.agent_pid("steady").expect("agent running");

    server.kill9();
    // Let the agent notice: its watches end and start failing to reconnect.
    std::thread::sleep(Duration::from_secs(1));
    let (cpu0, t0) = (cpu_time(pid), Instant::now());
    std::thread::sleep(Duration::from_secs(5));
    let (burnt, waited) = (cpu_time(pid) - cpu0, t0.elapsed());
    eprintln!("agent CPU while the server was down: {burnt:?} in {waited:?}");
    // A watch retrying without backoff keeps a core busy (about `waited` of CPU).
    assert!(
        burnt < Duration::from_millis(750),
        "the agent used {burnt:?} of CPU in {waited:?} while the API server was down; log:\n{}",
        host.agent_log("steady")
    );

    server.restart();
    wait_node_ready(&kubectl, "steady");
    assert_eq!(phase(&kubectl, "before"), "Running");
    kubectl.ok(&[
        "run",
        "after",
        &format!("--image={image}"),
        "--",
        "sleep",
        "3600",
    ]);
    eventually(
        "a pod created after the outage Running",
        Duration::from_secs(60),
        || phase(&kubectl, "after"),
        |p| p == "Running",
    );
}
