//! Watch streams: history from the database, then live events from the writer's broadcast.
//!
//! The receiver is subscribed *before* history is read, so every event committed after the
//! history snapshot is waiting in the receiver; live events at or below the last revision
//! taken from history are skipped, so there is neither a gap nor a duplicate. A watcher that
//! falls behind the broadcast buffer goes back to reading history from where it stopped (the
//! rows are still in the database unless compaction removed them, which ends the stream with
//! `Error::Compacted`), so no event is ever dropped silently.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::broadcast;

use super::read::{history, ReadPool};
use super::writer::Batch;
use crate::{Error, Event, Result, Revision, WatchStream};

/// Events read per history query.
const HISTORY_PAGE: usize = 1000;

pub(super) struct Watcher {
    reads: Arc<ReadPool>,
    live: broadcast::Receiver<Arc<Batch>>,
    prefix: String,
    /// Every revision up to here has been delivered or skipped.
    last: Revision,
    catching_up: bool,
    pending: VecDeque<Event>,
    done: bool,
}

impl Watcher {
    pub(super) fn new(
        reads: Arc<ReadPool>,
        live: broadcast::Receiver<Arc<Batch>>,
        prefix: &str,
        after: Revision,
    ) -> Self {
        Watcher {
            reads,
            live,
            prefix: prefix.to_owned(),
            last: after,
            catching_up: true,
            pending: VecDeque::new(),
            done: false,
        }
    }

    pub(super) fn into_stream(self) -> WatchStream {
        Box::pin(futures::stream::unfold(self, |mut w| async move {
            let item = w.next().await?;
            Some((item, w))
        }))
    }

    async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            let step = if self.catching_up {
                self.read_history().await
            } else {
                self.read_live().await
            };
            if let Err(e) = step {
                self.done = true;
                return Some(Err(e));
            }
        }
    }

    async fn read_history(&mut self) -> Result<()> {
        let (prefix, after) = (self.prefix.clone(), self.last);
        let page = self
            .reads
            .run(move |conn, snap| history(conn, snap, &prefix, after, HISTORY_PAGE))
            .await?;
        self.pending.extend(page.events);
        self.last = page.last;
        self.catching_up = !page.complete;
        Ok(())
    }

    async fn read_live(&mut self) -> Result<()> {
        match self.live.recv().await {
            Ok(batch) => {
                let last = self.last;
                let fresh = batch
                    .events
                    .iter()
                    .filter(|e| e.kv.mod_revision > last && e.kv.key.starts_with(&self.prefix));
                self.pending.extend(fresh.cloned());
                self.last = last.max(batch.revision);
                Ok(())
            }
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::debug!(missed, prefix = %self.prefix, "watcher lagged, rereading history");
                self.catching_up = true;
                Ok(())
            }
            Err(broadcast::error::RecvError::Closed) => Err(Error::Closed),
        }
    }
}
