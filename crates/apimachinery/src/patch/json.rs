//! RFC 6902 JSON patch (`application/json-patch+json`), with upstream's error texts.

use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::Value;

use super::PatchError;

/// Upstream's limit on operations in one JSON patch (`maxJSONPatchOperations`).
pub const MAX_JSON_PATCH_OPERATIONS: usize = 10000;

/// Applies an RFC 6902 patch (`add`, `remove`, `replace`, `move`, `copy`, `test`) to `doc`.
///
/// A body that is not a list of operations is a 400; an operation that does not apply (a
/// missing path, a failed `test`) is a 422 whose text follows upstream's JSON patch library.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = match patch {
        // Go decodes `null` into an empty patch.
        Value::Null => return Ok(doc.clone()),
        Value::Array(ops) => ops,
        other => {
            return Err(PatchError::JsonPatchDecode(format!(
                "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
                go_json_type(other)
            )))
        }
    };
    if ops.len() > MAX_JSON_PATCH_OPERATIONS {
        return Err(PatchError::TooManyOperations {
            max: MAX_JSON_PATCH_OPERATIONS,
            got: ops.len(),
        });
    }
    let decoded = ops.iter().map(decode_op).collect::<Result<Vec<_>, _>>()?;

    let mut out = doc.clone();
    for op in decoded {
        let op = match op {
            Decoded::Op(op) => op,
            // Upstream decodes any `op` and fails only when it reaches an unknown one.
            Decoded::UnknownKind(kind) => {
                return Err(PatchError::JsonPatchApply(format!(
                    "Unexpected kind: {kind}"
                )))
            }
        };
        if let Err(e) = json_patch::patch(&mut out, std::slice::from_ref(&op)) {
            return Err(PatchError::JsonPatchApply(describe_failure(
                &out, &op, &e.kind,
            )));
        }
    }
    Ok(out)
}

enum Decoded {
    Op(PatchOperation),
    UnknownKind(String),
}

fn decode_op(op: &Value) -> Result<Decoded, PatchError> {
    let Value::Object(fields) = op else {
        return Err(PatchError::JsonPatchDecode(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Operation",
            go_json_type(op)
        )));
    };
    let kind = fields
        .get("op")
        .and_then(Value::as_str)
        .unwrap_or("unknown");
    if !matches!(
        kind,
        "add" | "remove" | "replace" | "move" | "copy" | "test"
    ) {
        return Ok(Decoded::UnknownKind(kind.to_string()));
    }
    let mut op = op.clone();
    // Upstream treats a missing `value` as null rather than rejecting the operation.
    if matches!(kind, "add" | "replace" | "test") {
        if let Value::Object(m) = &mut op {
            m.entry("value").or_insert(Value::Null);
        }
    }
    serde_json::from_value(op)
        .map(Decoded::Op)
        .map_err(|e| PatchError::JsonPatchDecode(e.to_string()))
}

fn go_json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Where a path stands in `doc`: its parent container missing, its key missing, or present.
enum Presence {
    NoParent,
    NoKey,
    Present,
}

fn presence(doc: &Value, path: &str) -> Presence {
    let Some((parent, last)) = path.rsplit_once('/') else {
        return Presence::Present;
    };
    match doc.pointer(parent) {
        Some(Value::Object(m)) => {
            let key = last.replace("~1", "/").replace("~0", "~");
            if m.contains_key(&key) {
                Presence::Present
            } else {
                Presence::NoKey
            }
        }
        Some(Value::Array(a)) => match last.parse::<usize>() {
            Ok(i) if i < a.len() => Presence::Present,
            _ => Presence::NoKey,
        },
        _ => Presence::NoParent,
    }
}

/// The text upstream's JSON patch library (evanphx/json-patch) gives for a failed operation;
/// `doc` is the document just before it.
fn describe_failure(doc: &Value, op: &PatchOperation, kind: &PatchErrorKind) -> String {
    const MISSING: &str = "missing value";
    let path = op.path().to_string();
    match op {
        PatchOperation::Test(_) => match (kind, presence(doc, &path)) {
            (_, Presence::NoParent) => format!("test operation does not apply: is missing path: {path}: {MISSING}"),
            _ => format!("testing value {path} failed: test failed"),
        },
        PatchOperation::Add(_) => match presence(doc, &path) {
            Presence::NoParent => format!("add operation does not apply: doc is missing path: \"{path}\": {MISSING}"),
            _ => format!("error in add for path: '{path}': {}", invalid_index(&path)),
        },
        PatchOperation::Remove(_) => match presence(doc, &path) {
            Presence::NoParent => {
                format!("remove operation does not apply: doc is missing path: \"{path}\": {MISSING}")
            }
            _ if matches!(parent(doc, &path), Some(Value::Array(_))) => {
                format!("error in remove for path: '{path}': {}", invalid_index(&path))
            }
            _ => format!(
                "error in remove for path: '{path}': Unable to remove nonexistent key: {}: {MISSING}",
                last_token(&path)
            ),
        },
        PatchOperation::Replace(_) => match presence(doc, &path) {
            Presence::NoParent => format!("replace operation does not apply: doc is missing path: {path}: {MISSING}"),
            _ => format!("replace operation does not apply: doc is missing key: {path}: {MISSING}"),
        },
        PatchOperation::Move(m) => move_or_copy("move", doc, &m.from.to_string(), &path, kind),
        PatchOperation::Copy(c) => move_or_copy("copy", doc, &c.from.to_string(), &path, kind),
    }
}

fn move_or_copy(verb: &str, doc: &Value, from: &str, path: &str, kind: &PatchErrorKind) -> String {
    match kind {
        PatchErrorKind::CannotMoveInsideItself => {
            format!("{verb} operation does not apply: cannot move the value inside itself: {path}")
        }
        _ if !matches!(presence(doc, from), Presence::Present) => {
            format!("{verb} operation does not apply: doc is missing from path: {from}: missing value")
        }
        _ => format!("{verb} operation does not apply: doc is missing destination path: {path}: missing value"),
    }
}

fn parent<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    path.rsplit_once('/').and_then(|(p, _)| doc.pointer(p))
}

fn last_token(path: &str) -> String {
    path.rsplit_once('/')
        .map(|(_, l)| l.replace("~1", "/").replace("~0", "~"))
        .unwrap_or_default()
}

fn invalid_index(path: &str) -> String {
    format!(
        "Unable to access invalid index: {}: invalid index referenced",
        last_token(path)
    )
}
