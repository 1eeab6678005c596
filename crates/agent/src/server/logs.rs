//! `GET /containerLogs/{ns}/{pod}/{container}`: a container's log file (the current
//! attempt, or the one before with `previous`), rendered by [`crilog`], and with `follow`
//! streamed until the container stops.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use k8s_cri::v1 as cri;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::crilog::{self, Joiner, Options, Writer};
use super::{find_container, find_sandbox, query_flag, status, Body, Context};
use crate::pods::sandbox::POD_UID;

/// How often a followed file is read again when it had nothing new.
const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub async fn serve(
    ctx: &Context,
    ns: &str,
    pod: &str,
    container: &str,
    query: &[(String, String)],
) -> Response<Body> {
    let sandbox = match find_sandbox(&ctx.cri, ns, pod).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("pod {ns}/{pod} is not known on this node"),
            )
        }
        Err(e) => return super::internal(e),
    };
    let uid = sandbox.labels.get(POD_UID).cloned().unwrap_or_default();
    let dir = ctx
        .pod_logs
        .join(format!("{ns}_{pod}_{uid}"))
        .join(container);
    let attempts = attempts(&dir);
    let previous = query_flag(query, "previous");
    let attempt = if previous {
        // The last terminated container: the latest one if it is not running (a restart
        // waits out its back-off), else the one before, as the kubelet reads lastState.
        let latest_running = still_running_latest(&ctx.cri, &sandbox.id, container).await;
        let skip = usize::from(latest_running);
        match attempts.iter().rev().nth(skip) {
            Some(a) => *a,
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!(
                        "previous terminated container {container:?} in pod {pod:?} not found"
                    ),
                )
            }
        }
    } else {
        match attempts.last() {
            Some(a) => *a,
            None => {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    &format!(
                    "container {container:?} in pod {pod:?} is waiting to start: ContainerCreating"
                ),
                )
            }
        }
    };
    let file = dir.join(format!("{attempt}.log"));
    let opts = Options::from_query(query, time::OffsetDateTime::now_utc());
    let follow = query_flag(query, "follow") && !previous;
    if !follow {
        return match tokio::fs::read(&file).await {
            Ok(content) => plain(super::full(crilog::render_all(&content, &opts))),
            Err(e) => super::internal(format!("{}: {e}", file.display())),
        };
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let cri = ctx.cri.clone();
    let sandbox_id = sandbox.id.clone();
    let name = container.to_string();
    tokio::spawn(async move {
        if let Err(e) = follow_file(&file, &opts, tx, &cri, &sandbox_id, &name, attempt).await {
            tracing::debug!(file = %file.display(), error = %e, "log follow ended");
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, std::io::Error>(Frame::data(b)), rx))
    });
    plain(StreamBody::new(stream).boxed())
}

fn plain(body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain"),
    );
    resp
}

/// The attempts with a log file in `dir`, ascending.
fn attempts(dir: &Path) -> Vec<u32> {
    let mut out: Vec<u32> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()?
                        .strip_suffix(".log")?
                        .parse::<u32>()
                        .ok()
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort_unstable();
    out
}

/// Whether the container's latest attempt runs (a runtime error counts as running).
async fn still_running_latest(cri: &super::Cri, sandbox_id: &str, name: &str) -> bool {
    match find_container(cri, sandbox_id, name).await {
        Ok(Some(c)) => c.state == cri::ContainerState::ContainerRunning as i32,
        Ok(None) => false,
        Err(_) => true,
    }
}

/// Whether the container of this attempt still runs (and so may write more).
async fn still_running(cri: &super::Cri, sandbox_id: &str, name: &str, attempt: u32) -> bool {
    match find_container(cri, sandbox_id, name).await {
        Ok(Some(c)) => {
            c.metadata.as_ref().map_or(0, |m| m.attempt) == attempt
                && c.state == cri::ContainerState::ContainerRunning as i32
        }
        Ok(None) => false,
        // The runtime restarting is no reason to cut a follow short.
        Err(_) => true,
    }
}

async fn follow_file(
    file: &PathBuf,
    opts: &Options,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    cri: &super::Cri,
    sandbox_id: &str,
    name: &str,
    attempt: u32,
) -> std::io::Result<()> {
    let mut f = tokio::fs::File::open(file).await?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf).await?;
    let mut joiner = Joiner::default();
    let (first, used) = crilog::lines(&buf, &mut joiner);
    let mut offset = used as u64;
    let mut writer = Writer::new(opts);
    for line in crilog::select(first, opts) {
        if writer.done() {
            return Ok(());
        }
        if tx.send(Bytes::from(writer.render(&line))).await.is_err() {
            return Ok(());
        }
    }
    let mut idle_checks = 0u32;
    loop {
        if writer.done() || tx.is_closed() {
            return Ok(());
        }
        f.seek(std::io::SeekFrom::Start(offset)).await?;
        let mut more = Vec::new();
        f.read_to_end(&mut more).await?;
        let (lines, used) = crilog::lines(&more, &mut joiner);
        offset += used as u64;
        if lines.is_empty() {
            idle_checks += 1;
            // Every second of silence: has the container ended? Then so does the follow,
            // after one last read of what it wrote before exiting.
            if idle_checks.is_multiple_of(5) && !still_running(cri, sandbox_id, name, attempt).await
            {
                f.seek(std::io::SeekFrom::Start(offset)).await?;
                let mut rest = Vec::new();
                f.read_to_end(&mut rest).await?;
                let (mut lines, _) = crilog::lines(&rest, &mut joiner);
                lines.extend(joiner.finish());
                for line in lines {
                    let _ = tx.send(Bytes::from(writer.render(&line))).await;
                }
                return Ok(());
            }
            tokio::time::sleep(FOLLOW_POLL).await;
            continue;
        }
        idle_checks = 0;
        for line in lines {
            if writer.done() {
                return Ok(());
            }
            if tx.send(Bytes::from(writer.render(&line))).await.is_err() {
                return Ok(());
            }
        }
    }
}
