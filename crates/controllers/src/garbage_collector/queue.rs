//! A work queue of uids that never hands out one uid to two workers at once: a uid
//! added while it is being worked on is handed out again once that work is done.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Default)]
pub struct Queue {
    state: Mutex<State>,
    ready: Notify,
}

#[derive(Default)]
struct State {
    pending: VecDeque<String>,
    queued: HashSet<String>,
    active: HashSet<String>,
    dirty: HashSet<String>,
}

impl Queue {
    pub fn add(&self, uid: String) {
        let Ok(mut s) = self.state.lock() else {
            return;
        };
        if s.active.contains(&uid) {
            s.dirty.insert(uid);
        } else if s.queued.insert(uid.clone()) {
            s.pending.push_back(uid);
            drop(s);
            self.ready.notify_one();
        }
    }

    /// Waits for a uid and marks it active until [`Queue::done`].
    pub async fn next(&self) -> String {
        loop {
            if let Some(uid) = self.try_next() {
                return uid;
            }
            self.ready.notified().await;
        }
    }

    fn try_next(&self) -> Option<String> {
        let mut s = self.state.lock().ok()?;
        let uid = s.pending.pop_front()?;
        s.queued.remove(&uid);
        s.active.insert(uid.clone());
        let more = !s.pending.is_empty();
        drop(s);
        if more {
            // Wake another worker for the rest.
            self.ready.notify_one();
        }
        Some(uid)
    }

    pub fn done(&self, uid: &str) {
        let again = match self.state.lock() {
            Ok(mut s) => {
                s.active.remove(uid);
                s.dirty.remove(uid)
            }
            Err(_) => false,
        };
        if again {
            self.add(uid.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uid_is_never_handed_out_twice_at_once() {
        let q = Queue::default();
        q.add("a".into());
        q.add("a".into());
        q.add("b".into());
        assert_eq!(q.try_next().as_deref(), Some("a"));
        q.add("a".into()); // while active: deferred, not queued
        assert_eq!(q.try_next().as_deref(), Some("b"));
        assert_eq!(q.try_next(), None);
        q.done("a");
        assert_eq!(q.try_next().as_deref(), Some("a"));
        q.done("a");
        q.done("b");
        assert_eq!(q.try_next(), None);
    }
}
