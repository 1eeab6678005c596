//! Patch errors with upstream's wording and the HTTP status upstream's apiserver answers with.

use thiserror::Error;

/// Why a patch failed. `Display` is the text upstream's apiserver shows for it; use
/// [`status_code`](Self::status_code), [`reason`](Self::reason),
/// [`status_message`](Self::status_message) and [`cause`](Self::cause) to build the `Status`.
///
/// | variant | code | reason |
/// |---|---|---|
/// | `JsonPatchDecode`, `StrategicBadJsonDoc`, `BadPatchFormatFor*` | 400 | `BadRequest` |
/// | `TooManyOperations` | 413 | `RequestEntityTooLarge` |
/// | `JsonPatchApply`, `NoListOfLists` | 422 | `Invalid` |
/// | `InvalidMergePatch`, `NoMergeKey`, `UnknownPatchType`, `SetElementOrderMismatch`, `MixedListTypes`, `NoMergeKeyDeclared` | 500 | (none) |
///
/// The 500s are what upstream answers too: its handler passes these errors through
/// unconverted, so they leave as `Status{code: 500, reason: ""}` and kubectl prints
/// `Error from server: map: ... does not contain declared merge key: name`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatchError {
    /// A JSON patch body that does not decode as a list of operations.
    #[error("{0}")]
    JsonPatchDecode(String),
    /// More operations than upstream allows in one JSON patch.
    #[error("The allowed maximum operations in a JSON patch is {max}, got {got}")]
    TooManyOperations { max: usize, got: usize },
    /// A JSON patch operation that does not apply to the object (missing path, failed `test`).
    #[error("{0}")]
    JsonPatchApply(String),
    /// A merge patch body that is not a JSON object.
    #[error("Invalid JSON Patch")]
    InvalidMergePatch,
    /// A strategic merge patch body (or target) that is not a JSON object.
    #[error("invalid JSON document")]
    StrategicBadJsonDoc,
    #[error("invalid patch format of primitive list")]
    BadPatchFormatForPrimitiveList,
    #[error("invalid patch format of retainKeys")]
    BadPatchFormatForRetainKeys,
    #[error("invalid patch format of setElementOrder list")]
    BadPatchFormatForSetElementOrderList,
    #[error("lists of lists are not supported")]
    NoListOfLists,
    /// An item of a merging list without its merge key; `map` is the item as Go prints it.
    #[error("map: {map} does not contain declared merge key: {key}")]
    NoMergeKey { map: String, key: String },
    /// A `$patch` directive other than `replace`, `delete` or `merge`.
    #[error("unknown patch type: {directive} in map: {map}")]
    UnknownPatchType { directive: String, map: String },
    /// The patch list's order contradicts its `$setElementOrder` list.
    #[error("The order in patch list:\n{patch}\n doesn't match $setElementOrder list:\n{order}\n")]
    SetElementOrderMismatch { patch: String, order: String },
    #[error("list element types are not identical: {0}")]
    MixedListTypes(String),
    /// A list of objects whose strategy is to merge, but with no merge key declared.
    #[error("cannot merge lists without merge key for type struct")]
    NoMergeKeyDeclared,
}

impl PatchError {
    /// HTTP status upstream's apiserver answers with.
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::JsonPatchDecode(_)
            | PatchError::StrategicBadJsonDoc
            | PatchError::BadPatchFormatForPrimitiveList
            | PatchError::BadPatchFormatForRetainKeys
            | PatchError::BadPatchFormatForSetElementOrderList => 400,
            PatchError::TooManyOperations { .. } => 413,
            PatchError::JsonPatchApply(_) | PatchError::NoListOfLists => 422,
            PatchError::InvalidMergePatch
            | PatchError::NoMergeKey { .. }
            | PatchError::UnknownPatchType { .. }
            | PatchError::SetElementOrderMismatch { .. }
            | PatchError::MixedListTypes(_)
            | PatchError::NoMergeKeyDeclared => 500,
        }
    }

    /// The `Status.reason` upstream sets (empty: `StatusReasonUnknown`).
    pub fn reason(&self) -> &'static str {
        match self.status_code() {
            400 => "BadRequest",
            413 => "RequestEntityTooLarge",
            422 => "Invalid",
            _ => "",
        }
    }

    /// The `Status.message` upstream sets. A 422 comes from upstream's generic server response,
    /// whose message is fixed and whose detail sits in [`cause`](Self::cause).
    pub fn status_message(&self) -> String {
        match self.status_code() {
            413 => format!("Request entity too large: {self}"),
            422 => "the server rejected our request due to an error in our request".to_string(),
            _ => self.to_string(),
        }
    }

    /// The single `Status.details.causes[].message` upstream sets (type
    /// `UnexpectedServerResponse`), for the 422s only.
    pub fn cause(&self) -> Option<String> {
        (self.status_code() == 422).then(|| self.to_string())
    }
}
