//! Warnings admission sends back with the response (`Warning: 299 - "..."` headers), such
//! as PodSecurity's `warn` mode. The hooks in `rest/write.rs` return only success or an
//! error, so plugins add warnings to a sink scoped to the request's future instead.

use std::future::Future;
use std::sync::{Arc, Mutex};

tokio::task_local! {
    static SINK: Arc<Mutex<Vec<String>>>;
}

/// Runs one request, returning its result and the warnings admission added on the way.
pub async fn collect<F: Future>(request: F) -> (F::Output, Vec<String>) {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let out = SINK.scope(sink.clone(), request).await;
    let warnings = sink
        .lock()
        .map(|mut w| std::mem::take(&mut *w))
        .unwrap_or_default();
    (out, warnings)
}

/// Adds warnings to the current request's response; outside `collect` (a unit test, an
/// internal write) they are dropped, as there is no client to tell.
pub fn add(warnings: Vec<String>) {
    if warnings.is_empty() {
        return;
    }
    let _ = SINK.try_with(|sink| {
        if let Ok(mut w) = sink.lock() {
            w.extend(warnings);
        }
    });
}
