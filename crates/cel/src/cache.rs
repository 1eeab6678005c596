//! The process-wide compile cache: rules come from CRDs and policies, which are few and
//! change rarely, while every write of a matching object evaluates them.

use crate::{CelError, Rule};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

/// Enough for every rule of a large cluster's CRDs; the bound only stops a stream of
/// distinct expressions (CRDs created and deleted) from growing memory without end.
const CAPACITY: usize = 1024;

static CACHE: LazyLock<Mutex<HashMap<String, Arc<Rule>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The compiled `expr`, compiled at most once while it stays cached. Compile errors are
/// not cached: invalid rules are rejected when their CRD or policy is written, so they
/// should not reach the hot path.
pub fn cached(expr: &str) -> Result<Arc<Rule>, CelError> {
    if let Some(rule) = lock().get(expr) {
        return Ok(Arc::clone(rule));
    }
    // Compiled without the lock held: parsing takes far longer than a lookup, and two
    // threads racing on one new rule only waste one compile.
    let rule = Arc::new(Rule::compile(expr)?);
    let mut cache = lock();
    if cache.len() >= CAPACITY && !cache.contains_key(expr) {
        // HashMap order is arbitrary, so this evicts a pseudo-random entry: good enough
        // for a bound that is not expected to be reached, and needs no bookkeeping.
        if let Some(victim) = cache.keys().next().cloned() {
            cache.remove(&victim);
        }
    }
    Ok(Arc::clone(cache.entry(expr.to_owned()).or_insert(rule)))
}

/// A panic while holding the lock leaves at worst a missing entry, so a poisoned cache
/// is still sound to use.
fn lock() -> MutexGuard<'static, HashMap<String, Arc<Rule>>> {
    CACHE.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
pub(crate) fn len() -> usize {
    lock().len()
}
