//! Idle backend connections waiting for their next request, per endpoint. Nothing drives
//! a connection while it waits here: the request that takes one drives it in its own task
//! (see [`crate::upstream`]), so a proxied request crosses no task boundary. Newest first,
//! since the newest is the least likely to have been closed by the backend meanwhile; a
//! connection idle longer than the limit is dropped rather than reused. Pure apart from
//! its lock.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Shorter than common backends' keep-alive (2–5 s), so an idle connection is dropped
/// here before the backend closes it under a request.
pub const IDLE_LIMIT: Duration = Duration::from_millis(1500);
/// Idle connections kept per endpoint; beyond it the oldest goes.
pub const MAX_IDLE_PER_ENDPOINT: usize = 512;

pub struct IdleLot<C> {
    /// Per endpoint, oldest first.
    waiting: Mutex<HashMap<SocketAddr, Vec<(Instant, C)>>>,
    limit: Duration,
    max: usize,
}

impl<C> Default for IdleLot<C> {
    fn default() -> IdleLot<C> {
        IdleLot::new(IDLE_LIMIT, MAX_IDLE_PER_ENDPOINT)
    }
}

impl<C> IdleLot<C> {
    pub fn new(limit: Duration, max: usize) -> IdleLot<C> {
        IdleLot {
            waiting: Mutex::default(),
            limit,
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SocketAddr, Vec<(Instant, C)>>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest connection to `addr` that has not been idle too long. Connections found
    /// too old are returned in `expired`, to be dropped (closed) outside the lock.
    pub fn take(&self, addr: SocketAddr, now: Instant, expired: &mut Vec<C>) -> Option<C> {
        let mut waiting = self.lock();
        let queue = waiting.get_mut(&addr)?;
        let (since, c) = queue.pop()?;
        if now.saturating_duration_since(since) < self.limit {
            self.expire(queue, now, expired);
            return Some(c);
        }
        // The newest is too old, so all are.
        expired.push(c);
        expired.extend(queue.drain(..).map(|(_, c)| c));
        waiting.remove(&addr);
        None
    }

    /// Parks `c`, idle from `now`. Returns what no longer fits or has expired, to drop
    /// outside the lock.
    pub fn put(&self, addr: SocketAddr, c: C, now: Instant) -> Vec<C> {
        let mut out = Vec::new();
        let mut waiting = self.lock();
        let queue = waiting.entry(addr).or_default();
        queue.push((now, c));
        self.expire(queue, now, &mut out);
        if queue.len() > self.max {
            let over = queue.len() - self.max;
            out.extend(queue.drain(..over).map(|(_, c)| c));
        }
        out
    }

    /// Removes every connection idle too long (endpoints no request goes to any more
    /// included), returning them to drop outside the lock.
    pub fn sweep(&self, now: Instant) -> Vec<C> {
        let mut out = Vec::new();
        let mut waiting = self.lock();
        for queue in waiting.values_mut() {
            self.expire(queue, now, &mut out);
        }
        waiting.retain(|_, q| !q.is_empty());
        out
    }

    /// Drops the expired ones from the front (the oldest) of one endpoint's queue.
    fn expire(&self, queue: &mut Vec<(Instant, C)>, now: Instant, out: &mut Vec<C>) {
        let old = queue
            .iter()
            .take_while(|(since, _)| now.saturating_duration_since(*since) >= self.limit)
            .count();
        out.extend(queue.drain(..old).map(|(_, c)| c));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    /// Runs `steps` ("put ADDR ID AT_MS", "take ADDR AT_MS", "sweep AT_MS") on a lot with a
    /// 100 ms limit and room for 2 per endpoint; one line of outcome per step.
    fn check(steps: &str, want: Expect) {
        let lot = IdleLot::new(Duration::from_millis(100), 2);
        let start = Instant::now();
        let at = |ms: &str| start + Duration::from_millis(ms.parse().unwrap());
        let addr = |a: &str| SocketAddr::from(([10, 0, 0, a.parse().unwrap()], 80));
        let mut out = String::new();
        for step in steps.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let words: Vec<&str> = step.split_whitespace().collect();
            let line = match words.as_slice() {
                ["put", a, id, ms] => {
                    let dropped = lot.put(addr(a), id.to_string(), at(ms));
                    format!("dropped {dropped:?}")
                }
                ["take", a, ms] => {
                    let mut expired = Vec::new();
                    let got = lot.take(addr(a), at(ms), &mut expired);
                    format!("got {got:?}, expired {expired:?}")
                }
                ["sweep", ms] => format!("swept {:?}", lot.sweep(at(ms))),
                _ => panic!("bad step {step:?}"),
            };
            out.push_str(&format!("{step:<16} -> {line}; {} left\n", lot.len()));
        }
        want.assert_eq(&out);
    }

    #[test]
    fn newest_first_per_endpoint() {
        check(
            "put 1 a 0
             put 1 b 10
             put 2 c 10
             take 1 20
             take 1 20
             take 1 20
             take 2 20",
            expect![[r#"
                put 1 a 0        -> dropped []; 1 left
                put 1 b 10       -> dropped []; 2 left
                put 2 c 10       -> dropped []; 3 left
                take 1 20        -> got Some("b"), expired []; 2 left
                take 1 20        -> got Some("a"), expired []; 1 left
                take 1 20        -> got None, expired []; 1 left
                take 2 20        -> got Some("c"), expired []; 0 left
            "#]],
        );
    }

    #[test]
    fn idle_too_long_is_not_reused() {
        check(
            "put 1 a 0
             put 1 b 50
             take 1 120
             put 1 c 130
             put 1 d 140
             take 1 300",
            expect![[r#"
                put 1 a 0        -> dropped []; 1 left
                put 1 b 50       -> dropped []; 2 left
                take 1 120       -> got Some("b"), expired ["a"]; 0 left
                put 1 c 130      -> dropped []; 1 left
                put 1 d 140      -> dropped []; 2 left
                take 1 300       -> got None, expired ["d", "c"]; 0 left
            "#]],
        );
    }

    #[test]
    fn full_endpoint_drops_its_oldest() {
        check(
            "put 1 a 0
             put 1 b 1
             put 1 c 2
             put 2 d 3
             put 1 e 150
             sweep 200
             sweep 251",
            expect![[r#"
                put 1 a 0        -> dropped []; 1 left
                put 1 b 1        -> dropped []; 2 left
                put 1 c 2        -> dropped ["a"]; 2 left
                put 2 d 3        -> dropped []; 3 left
                put 1 e 150      -> dropped ["b", "c"]; 2 left
                sweep 200        -> swept ["d"]; 1 left
                sweep 251        -> swept ["e"]; 0 left
            "#]],
        );
    }
}
