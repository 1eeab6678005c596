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

    /// How server-side apply treats the list in field `name` (upstream's
    /// `x-kubernetes-list-type` and `x-kubernetes-list-map-keys`). Strategic merge patch never
    /// asks. The default follows [`list_strategy`](Self::list_strategy), which agrees with
    /// upstream for most fields; implement it where apply keys differ (container `ports` are a
    /// map keyed by `containerPort` *and* `protocol`) or where a list without a patch strategy is
    /// still a map or set for apply.
    fn list_type(&self, name: &str) -> ListType {
        match self.list_strategy(name) {
            ListStrategy::Replace => ListType::Atomic,
            ListStrategy::MergeByKey(key) => ListType::Map(vec![key]),
            ListStrategy::MergeScalars => ListType::Set,
        }
    }

    /// The value a list-map key field takes when an item omits it (upstream's schema default,
    /// e.g. `protocol: TCP` for container ports), so the item is still identified.
    fn list_key_default(&self, _list: &str, _key: &str) -> Option<serde_json::Value> {
        None
    }

    /// Whether the object in field `name` is atomic for server-side apply
    /// (`x-kubernetes-map-type: atomic`, e.g. a `LabelSelector`): applied and owned as a whole.
    fn atomic_object(&self, _name: &str) -> bool {
        false
    }

    /// Whether field `name` holds a value even in an empty object of this type: upstream's
    /// built-in types are Go structs, and a non-pointer struct field (`spec`, `template`,
    /// `strategy`) is serialized as `{}` when empty. Server-side apply compares a created
    /// object with that empty object, so such fields are not recorded as added (no `.` entry
    /// for them in the creator's managedFields). The default (false) is right for custom
    /// resources, whose empty object has no fields.
    fn always_present(&self, _name: &str) -> bool {
        false
    }
}

/// How server-side apply merges and tracks a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListType {
    /// Replaced and owned as a whole.
    Atomic,
    /// Items are objects identified by these key fields; each item is merged and owned apart.
    Map(Vec<String>),
    /// Items are scalars, each owned apart.
    Set,
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
    fn list_type(&self, name: &str) -> ListType {
        (**self).list_type(name)
    }
    fn list_key_default(&self, list: &str, key: &str) -> Option<serde_json::Value> {
        (**self).list_key_default(list, key)
    }
    fn atomic_object(&self, name: &str) -> bool {
        (**self).atomic_object(name)
    }
    fn always_present(&self, name: &str) -> bool {
        (**self).always_present(name)
    }
}

#[cfg(test)]
mod json_merge_tests;
#[cfg(test)]
mod strategic_tests;
#[cfg(test)]
mod test_meta;
