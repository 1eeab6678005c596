//! JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.
//!
//! All three are pure functions over `serde_json::Value` that return a new document. Errors
//! carry the text upstream's apiserver puts in its `Status`, and say which status they map to
//! (see [`PatchError::status_code`]).

mod error;
mod gofmt;
mod json;
mod merge;
mod strategic;

pub use error::PatchError;
pub use json::{json_patch, MAX_JSON_PATCH_OPERATIONS};
pub use merge::merge_patch;
pub use strategic::strategic_merge_patch;

/// What strategic merge patch must know about one position in an object's schema. The
/// registry implements this from the OpenAPI schemas and upstream's merge keys; tests
/// implement it with small maps.
pub trait PatchMeta {
    /// Meta of the object in field `name` (for a list field: of its items), if known.
    fn child(&self, name: &str) -> Option<Box<dyn PatchMeta + '_>>;
    /// How the list in field `name` is patched.
    fn list_strategy(&self, name: &str) -> ListStrategy;
    /// Whether field `name` (an object) carries the `retainKeys` strategy.
    ///
    /// Applying a patch does not need this: the `$retainKeys` directive in the patch drives it,
    /// as upstream. It is here for code that computes patches.
    fn retain_keys(&self, _name: &str) -> bool {
        false
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListStrategy {
    /// The patch's list replaces the whole list (no merge key known).
    Replace,
    /// Items are objects merged by this key (`patchMergeKey`, e.g. `name`).
    MergeByKey(String),
    /// A list of scalars merged as a set (`patchStrategy: merge` without a key, e.g. finalizers).
    MergeScalars,
}

/// Meta for a position nothing is known about: every list is replaced, as upstream does for
/// lists without a `patchStrategy`.
pub struct NoPatchMeta;

impl PatchMeta for NoPatchMeta {
    fn child(&self, _name: &str) -> Option<Box<dyn PatchMeta + '_>> {
        None
    }
    fn list_strategy(&self, _name: &str) -> ListStrategy {
        ListStrategy::Replace
    }
}

/// Lets a borrowed meta stand where a boxed one is wanted (`Box::new(&child)`).
impl<T: PatchMeta + ?Sized> PatchMeta for &T {
    fn child(&self, name: &str) -> Option<Box<dyn PatchMeta + '_>> {
        (**self).child(name)
    }
    fn list_strategy(&self, name: &str) -> ListStrategy {
        (**self).list_strategy(name)
    }
    fn retain_keys(&self, name: &str) -> bool {
        (**self).retain_keys(name)
    }
}

#[cfg(test)]
mod json_merge_tests;
#[cfg(test)]
mod strategic_tests;
#[cfg(test)]
mod test_meta;
