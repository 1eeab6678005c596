//! JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic merge patch.

/// What strategic merge patch must know about one position in an object's schema. The
/// registry implements this from the OpenAPI schemas and upstream's merge keys; tests
/// implement it with small maps.
pub trait PatchMeta {
    /// Meta of the object in field `name` (for a list field: of its items), if known.
    fn child(&self, name: &str) -> Option<Box<dyn PatchMeta + '_>>;
    /// How the list in field `name` is patched.
    fn list_strategy(&self, name: &str) -> ListStrategy;
    /// Whether field `name` (an object) carries the `retainKeys` strategy.
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
