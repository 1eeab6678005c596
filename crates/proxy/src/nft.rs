//! Applying a script with the `nft` tool (Debian `nftables`).

use std::sync::{Arc, LazyLock};

use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;

use crate::Error;

/// One `nft` at a time in this process. A caller cancelled while its `nft` runs (a sync
/// loop aborted on shutdown) does not stop it, and the shutdown's delete used to come first:
/// the table was written again after it was removed. The turn is taken before `nft`
/// starts and is held by the task that runs it to its end, so whatever comes next waits.
static TURN: LazyLock<Arc<Mutex<()>>> = LazyLock::new(Arc::default);

/// Applies `script` with `nft -f`; once started, it runs to the end even if the caller
/// stops waiting, and the next `apply` waits for it.
pub async fn apply(script: &str) -> Result<(), Error> {
    in_turn("nft", &["-f", "-"], script).await
}

/// Runs `program` with `script` on its stdin, in this process's turn.
async fn in_turn(
    program: &'static str,
    args: &'static [&'static str],
    script: &str,
) -> Result<(), Error> {
    let turn = TURN.clone().lock_owned().await;
    let script = script.to_owned();
    let run = tokio::spawn(async move {
        let _turn = turn;
        run(program, args, &script).await
    });
    run.await
        .map_err(|e| Error::Nft(format!("the {program} task ended early: {e}")))?
}

async fn run(program: &str, args: &[&str], script: &str) -> Result<(), Error> {
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Error::Nft(format!("running {program}: {e} (Debian package nftables)")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .await
            .map_err(|e| Error::Nft(format!("writing to {program}: {e}")))?;
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| Error::Nft(format!("waiting for {program}: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Nft(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sync cancelled while its `nft` runs, then the shutdown's delete: the delete goes
    /// second. Shown with `sh` standing in for `nft`, each appending its name to a log.
    #[tokio::test]
    async fn a_cancelled_run_finishes_before_the_next_one() {
        let log = std::env::temp_dir().join(format!("skiff-nft-turn-{}", std::process::id()));
        let log = log.display().to_string();
        let _ = std::fs::remove_file(&log);
        let first = format!("sleep 0.3; echo sync >> {log}");
        let sync = tokio::spawn(async move { in_turn("sh", &["-s"], &first).await });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        sync.abort();
        let second = format!("echo delete >> {log}");
        in_turn("sh", &["-s"], &second).await.expect("the delete");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let order = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_file(&log);
        assert_eq!(order, "sync\ndelete\n");
    }
}
