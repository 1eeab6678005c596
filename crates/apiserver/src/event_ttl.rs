//! Events expire: upstream gives each event an etcd lease of `--event-ttl` (1 h); we sweep
//! the cache instead and delete events whose last activity is older than the TTL.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::Api;

/// Upstream's default `--event-ttl`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(3600);

/// The latest timestamp an event carries (RFC 3339), as Unix seconds.
fn last_activity(ev: &Value) -> Option<i64> {
    [
        "/series/lastObservedTime",
        "/lastTimestamp",
        "/eventTime",
        "/deprecatedLastTimestamp",
        "/metadata/creationTimestamp",
    ]
    .iter()
    .filter_map(|p| ev.pointer(p).and_then(Value::as_str))
    .filter_map(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    })
    .map(|t| t.unix_timestamp())
    .max()
}

pub fn spawn(api: Arc<Api>, ttl: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60).min(ttl));
        loop {
            tick.tick().await;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            let (events, _) = api.cache.list("/registry/events/");
            for e in events {
                let v = e.value();
                let expired = last_activity(&v).is_some_and(|t| now - t > ttl.as_secs() as i64);
                if expired {
                    // Only the version we looked at: a concurrent update keeps it alive.
                    match api.store.delete(&e.key, Some(e.mod_revision)).await {
                        Ok(_)
                        | Err(store::Error::Conflict { .. })
                        | Err(store::Error::NotFound(_)) => {}
                        Err(err) => {
                            tracing::warn!(key = %e.key, error = %err, "event expiry failed")
                        }
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_activity_takes_the_latest_timestamp() {
        let cases = [
            (
                json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}}),
                Some(1767225600),
            ),
            (
                json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"}, "lastTimestamp": "2026-01-01T00:10:00Z"}),
                Some(1767226200),
            ),
            (
                json!({"eventTime": "2026-01-01T00:00:00.123456Z", "series": {"lastObservedTime": "2026-01-01T01:00:00.000000Z"}}),
                Some(1767229200),
            ),
            (json!({"metadata": {}}), None),
        ];
        for (ev, want) in cases {
            assert_eq!(last_activity(&ev), want, "{ev}");
        }
    }
}
