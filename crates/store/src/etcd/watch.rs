//! etcd watch responses as the store's events.
//!
//! One etcd watch per store watch, from `after + 1` with `prev_kv`: etcd itself replays the
//! history and then follows live writes, in revision order. A response may carry many
//! events; they are handed out one at a time. The stream ends with an error when etcd
//! cancels the watch (compaction) or the connection breaks, so the caller re-watches from
//! the last revision it saw.

use std::collections::VecDeque;

use futures::StreamExt;

use super::{range, to_kv, EtcdStore};
use crate::{Error, Event, EventKind, KeyValue, Result, Revision, WatchStream};

struct State {
    etcd: etcd_client::WatchStream,
    pending: VecDeque<Event>,
    after: Revision,
    done: bool,
}

pub(super) async fn open(store: &EtcdStore, prefix: &str, after: Revision) -> Result<WatchStream> {
    let (start, end) = range(prefix, None);
    let opts = etcd_client::WatchOptions::new()
        .with_range(end)
        .with_start_revision(after + 1)
        .with_prev_key();
    let etcd = store
        .on_member(super::Retry::Read, |client| {
            let (mut watch, start, opts) = (client.watch_client(), start.clone(), opts.clone());
            async move { watch.watch(start, Some(opts)).await }
        })
        .await?;
    let state = State {
        etcd,
        pending: VecDeque::new(),
        after,
        done: false,
    };
    Ok(futures::stream::unfold(state, next).boxed())
}

async fn next(mut state: State) -> Option<(Result<Event>, State)> {
    loop {
        if let Some(ev) = state.pending.pop_front() {
            state.after = ev.kv.mod_revision;
            return Some((Ok(ev), state));
        }
        if state.done {
            return None;
        }
        let resp = match state.etcd.message().await {
            Ok(Some(resp)) => resp,
            Ok(None) => {
                state.done = true;
                return Some((
                    Err(Error::Unavailable("etcd closed the watch".into())),
                    state,
                ));
            }
            Err(e) => {
                state.done = true;
                return Some((Err(super::errors::from_etcd(e)), state));
            }
        };
        if resp.canceled() {
            state.done = true;
            let err = if resp.compact_revision() > 0 {
                Error::Compacted {
                    requested: state.after,
                    compacted: resp.compact_revision(),
                }
            } else {
                Error::Unavailable(format!("etcd canceled the watch: {}", resp.cancel_reason()))
            };
            return Some((Err(err), state));
        }
        for ev in resp.events() {
            match convert(ev) {
                Ok(ev) => state.pending.push_back(ev),
                Err(e) => {
                    state.done = true;
                    return Some((Err(e), state));
                }
            }
        }
    }
}

fn convert(ev: &etcd_client::Event) -> Result<Event> {
    let kv = ev
        .kv()
        .ok_or_else(|| Error::Corrupt("an etcd watch event without a key".into()))?;
    let kv = to_kv(kv)?;
    let prev = ev.prev_kv().map(to_kv).transpose()?;
    Ok(match ev.event_type() {
        etcd_client::EventType::Put => Event {
            kind: EventKind::Put,
            // etcd sends the previous value of an update; a create (version 1) has none even
            // if a deleted incarnation of the key is still in history.
            prev: prev.filter(|p| p.create_revision == kv.create_revision),
            kv,
        },
        // etcd's delete event carries only the key and the delete's revision; the store's
        // event carries the last value, as the SQLite backend does.
        etcd_client::EventType::Delete => {
            let last = prev.clone().unwrap_or(KeyValue {
                value: Default::default(),
                create_revision: 0,
                ..kv.clone()
            });
            Event {
                kind: EventKind::Delete,
                kv: KeyValue {
                    mod_revision: kv.mod_revision,
                    ..last
                },
                prev,
            }
        }
    })
}
