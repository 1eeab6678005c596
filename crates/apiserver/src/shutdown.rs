//! Graceful shutdown (SIGTERM): stop accepting connections, let requests in flight finish
//! within [`DRAIN_TIMEOUT`], end watches so their streams close normally (the final chunk
//! of a chunked HTTP/1.1 body, END_STREAM on HTTP/2), then return.
//!
//! Nothing needs flushing afterwards: the store answers a write only once it is durable
//! (the SQLite writer fsyncs before it replies), so every write a client saw acknowledged
//! is on disk, and a request that finishes during the drain is acknowledged the same way.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

/// How long requests in flight get to finish once shutdown begins (upstream's apiserver
/// gives long-running requests a short grace too; clients retry elsewhere).
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Tells everything that serves clients that shutdown has begun.
#[derive(Debug)]
pub struct Stop(watch::Sender<bool>);

/// What a connection or a watch waits on to learn that shutdown has begun.
#[derive(Clone, Debug)]
pub struct Stopping(watch::Receiver<bool>);

pub fn channel() -> (Stop, Stopping) {
    let (tx, rx) = watch::channel(false);
    (Stop(tx), Stopping(rx))
}

impl Stop {
    pub fn begin(&self) {
        self.0.send_replace(true);
    }
}

impl Stopping {
    /// Resolves once shutdown has begun (at once if it already has); never if the server
    /// is dropped without one.
    pub async fn wait(&mut self) {
        if self.0.wait_for(|stopping| *stopping).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Counts open connections: each holds a [`Open`] token; [`Connections::drained`] resolves
/// when all are gone.
pub struct Connections {
    tx: Option<mpsc::Sender<()>>,
    rx: mpsc::Receiver<()>,
}

/// Held by one connection while it is open.
pub struct Open {
    _held: mpsc::Sender<()>,
}

impl Connections {
    pub fn new() -> Connections {
        let (tx, rx) = mpsc::channel(1);
        Connections { tx: Some(tx), rx }
    }

    pub fn open(&self) -> Option<Open> {
        self.tx.clone().map(|held| Open { _held: held })
    }

    /// Waits until every connection closed or `timeout` passed; false on timeout.
    pub async fn drained(mut self, timeout: Duration) -> bool {
        self.tx = None;
        // Nothing is ever sent: recv returns None once the last sender (connection) is gone.
        tokio::time::timeout(timeout, self.rx.recv()).await.is_ok()
    }
}
