//! Kubernetes strategic merge patch (`application/strategic-merge-patch+json`), applied as
//! upstream's apiserver applies it: what client-side `kubectl apply`, `edit`, `set image`,
//! `label`, `annotate`, `scale` and `rollout restart` send.
//!
//! The order of work inside one map follows upstream: a `$patch` directive first, then
//! `$retainKeys`, then each `$setElementOrder/<list>` together with its list, then the other
//! fields; we run `$deleteFromPrimitiveList/<list>` last so that it never races an addition.
//! Values the patch adds where the original had nothing are still run through the merge (into
//! an empty value), so no directive and no `null` from the patch lands in the result.

use serde_json::{Map, Value};

use super::gofmt::go_fmt;
use super::{ListStrategy, NoPatchMeta, PatchError, PatchMeta};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// Applies a strategic merge patch to `doc`. `meta` describes the object's schema: which lists
/// merge, and by which key.
///
/// - maps merge recursively; `null` deletes a field;
/// - lists follow [`ListStrategy`]: replaced, merged by key (patch items merge into the item
///   with the same key, new items are added), or merged as a set of scalars;
/// - `$patch: replace` on a map replaces it, in a list item replaces the whole list;
///   `$patch: delete` on a map empties it, in a list item removes the item with that key;
///   `$patch: merge` is the default and is accepted (upstream rejects it);
/// - `$retainKeys: [..]` drops the original's other keys;
/// - `$deleteFromPrimitiveList/<f>: [..]` removes those scalars from list `f`;
/// - `$setElementOrder/<f>: [..]` orders list `f` (by merge key, or by value for scalars).
///
/// Without `$setElementOrder`, order follows upstream: the patch's items take the patch's
/// order, and items only the server has keep their relative place, so an item the patch adds
/// lands before the server-only items that follow it (`kubectl patch` adding a container puts
/// it first). `kubectl apply` always sends `$setElementOrder`.
pub fn strategic_merge_patch(
    doc: &Value,
    patch: &Value,
    meta: &dyn PatchMeta,
) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(PatchError::StrategicBadJsonDoc);
    };
    let original = match doc {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        _ => return Err(PatchError::StrategicBadJsonDoc),
    };
    merge_map(original, patch.clone(), meta).map(Value::Object)
}

fn child_meta<'a>(meta: &'a dyn PatchMeta, name: &str) -> Box<dyn PatchMeta + 'a> {
    meta.child(name).unwrap_or_else(|| Box::new(NoPatchMeta))
}

fn merge_key(strategy: &ListStrategy) -> &str {
    match strategy {
        ListStrategy::MergeByKey(k) => k,
        _ => "",
    }
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    meta: &dyn PatchMeta,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        match directive.as_str() {
            Some("replace") => {
                patch.shift_remove(DIRECTIVE);
                return merge_map(Map::new(), patch, meta);
            }
            Some("delete") => return Ok(Map::new()),
            Some("merge") => {
                patch.shift_remove(DIRECTIVE);
            }
            _ => return Err(unknown_patch_type(directive, &patch)),
        }
    }

    apply_retain_keys(&mut original, &mut patch)?;
    apply_element_orders(&mut original, &mut patch, meta)?;

    let mut deletions = Vec::new();
    for (key, patch_value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            deletions.push((key, patch_value));
            continue;
        }
        if patch_value.is_null() {
            original.shift_remove(&key);
            continue;
        }
        let strategy = meta.list_strategy(&key);
        let child = child_meta(meta, &key);
        let merged = match (original.get_mut(&key).map(std::mem::take), patch_value) {
            (Some(Value::Object(o)), Value::Object(p)) => Value::Object(merge_map(o, p, &*child)?),
            (Some(Value::Array(o)), Value::Array(p)) => {
                Value::Array(merge_list(o, p, &strategy, &*child)?)
            }
            // Absent, or of another type: the patch's value wins, cleaned of directives.
            (_, p) => clean(p, &strategy, &*child)?,
        };
        original.insert(key, merged);
    }

    for (key, to_delete) in deletions {
        let field = directive_target(&key, DELETE_FROM_PRIMITIVE_LIST)
            .ok_or(PatchError::BadPatchFormatForPrimitiveList)?;
        let Value::Array(to_delete) = to_delete else {
            return Err(PatchError::BadPatchFormatForPrimitiveList);
        };
        // Absent lists stay absent: deleting from nothing must not create the list.
        if let Some(Value::Array(list)) = original.get_mut(field) {
            list.retain(|v| !to_delete.contains(v));
        }
    }
    Ok(original)
}

/// A value the patch puts where the original had none (or had another type).
fn clean(value: Value, strategy: &ListStrategy, meta: &dyn PatchMeta) -> Result<Value, PatchError> {
    match value {
        Value::Object(p) => merge_map(Map::new(), p, meta).map(Value::Object),
        Value::Array(p) => merge_list(Vec::new(), p, strategy, meta).map(Value::Array),
        other => Ok(other),
    }
}

/// `$setElementOrder/<f>: [..]` prefix → `<f>`.
fn directive_target<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let (head, field) = key.split_once('/')?;
    (head == prefix).then_some(field)
}

fn apply_retain_keys(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadPatchFormatForRetainKeys);
    };
    let kept = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        let is_parallel_list =
            k.starts_with(DELETE_FROM_PRIMITIVE_LIST) || k.starts_with(SET_ELEMENT_ORDER);
        if !v.is_null() && !is_parallel_list && !kept(k) {
            return Err(PatchError::BadPatchFormatForRetainKeys);
        }
    }
    original.retain(|k, _| kept(k));
    Ok(())
}

/// Merges each list that has a `$setElementOrder` together with its patch list, then orders
/// it: the listed items in the listed order, the server-only items kept in their places.
fn apply_element_orders(
    original: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    meta: &dyn PatchMeta,
) -> Result<(), PatchError> {
    let order_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for order_key in order_keys {
        let order = patch.shift_remove(&order_key).unwrap_or(Value::Null);
        let Value::Array(order) = order else {
            return Err(PatchError::BadPatchFormatForSetElementOrderList);
        };
        let field = directive_target(&order_key, SET_ELEMENT_ORDER)
            .ok_or(PatchError::BadPatchFormatForSetElementOrderList)?;
        let strategy = meta.list_strategy(field);
        let key = merge_key(&strategy);

        // A field that is not a list on either side is left to the ordinary merge.
        let original_list = match original.get(field) {
            Some(Value::Array(a)) => Some(a.clone()),
            _ => None,
        };
        let patch_list = match patch.get(field) {
            Some(Value::Array(a)) => Some(a.clone()),
            _ => None,
        };
        validate_against_order(patch_list.as_deref().unwrap_or(&[]), &order, key)?;

        let child = child_meta(meta, field);
        let merged = match (&original_list, patch_list) {
            (None, None) => continue,
            (Some(o), None) => o.clone(),
            (o, Some(p)) => merge_list(o.clone().unwrap_or_default(), p, &strategy, &*child)?,
        };
        let server_order = original_list.unwrap_or_default();
        let (listed, server_only) = partition(merged, &order, key)?;
        let ordered = normalize_order(listed, server_only, &order, &server_order, key)?;
        original.insert(field.to_string(), Value::Array(ordered));
        patch.shift_remove(field);
    }
    Ok(())
}

/// Upstream checks that the patch list's items (deletions aside) appear in the
/// `$setElementOrder` list, in the same relative order.
fn validate_against_order(
    patch_list: &[Value],
    order: &[Value],
    key: &str,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let kept: Vec<&Value> = patch_list
        .iter()
        .filter(|v| key.is_empty() || !is_delete_item(v))
        .collect();
    let (mut pi, mut oi) = (0, 0);
    while pi < kept.len() && oi < order.len() {
        if kept[pi].get(DIRECTIVE).is_some() {
            pi += 1;
            continue;
        }
        if same_item(kept[pi], &order[oi], key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < kept.len() && oi >= order.len() {
        return Err(PatchError::SetElementOrderMismatch {
            patch: go_fmt(&Value::Array(patch_list.to_vec())),
            order: go_fmt(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

fn is_delete_item(v: &Value) -> bool {
    v.get(DIRECTIVE).and_then(Value::as_str) == Some("delete")
}

fn same_item(left: &Value, right: &Value, key: &str) -> Result<bool, PatchError> {
    if key.is_empty() {
        return Ok(left == right);
    }
    Ok(key_value(left, key)? == key_value(right, key)?)
}

fn key_value<'a>(item: &'a Value, key: &str) -> Result<&'a Value, PatchError> {
    item.get(key).ok_or_else(|| no_merge_key(item, key))
}

fn no_merge_key(item: &Value, key: &str) -> PatchError {
    PatchError::NoMergeKey {
        map: go_fmt(item),
        key: key.to_string(),
    }
}

fn unknown_patch_type(directive: &Value, map: &Map<String, Value>) -> PatchError {
    PatchError::UnknownPatchType {
        directive: go_fmt(directive),
        map: go_fmt(&Value::Object(map.clone())),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemKind {
    Object,
    String,
    Number,
    Bool,
    Null,
}

/// The one kind of item in both lists; upstream refuses lists of lists and mixed lists.
fn item_kind(original: &[Value], patch: &[Value]) -> Result<Option<ItemKind>, PatchError> {
    let mut kind = None;
    for v in original.iter().chain(patch) {
        let k = match v {
            Value::Array(_) => return Err(PatchError::NoListOfLists),
            Value::Object(_) => ItemKind::Object,
            Value::String(_) => ItemKind::String,
            Value::Number(_) => ItemKind::Number,
            Value::Bool(_) => ItemKind::Bool,
            Value::Null => ItemKind::Null,
        };
        match kind {
            None => kind = Some(k),
            Some(prev) if prev != k => {
                let both = Value::Array(vec![
                    Value::Array(original.to_vec()),
                    Value::Array(patch.to_vec()),
                ]);
                return Err(PatchError::MixedListTypes(go_fmt(&both)));
            }
            Some(_) => {}
        }
    }
    Ok(kind)
}

fn merge_list(
    original: Vec<Value>,
    patch: Vec<Value>,
    strategy: &ListStrategy,
    meta: &dyn PatchMeta,
) -> Result<Vec<Value>, PatchError> {
    let key = match strategy {
        // Upstream takes the patch's list as it is; we only clean its objects of directives.
        ListStrategy::Replace => {
            return patch
                .into_iter()
                .map(|item| match item {
                    Value::Object(m) => merge_map(Map::new(), m, meta).map(Value::Object),
                    other => Ok(other),
                })
                .collect();
        }
        ListStrategy::MergeByKey(k) => k.as_str(),
        ListStrategy::MergeScalars => "",
    };
    if original.is_empty() && patch.is_empty() {
        return Ok(original);
    }
    if item_kind(&original, &patch)? != Some(ItemKind::Object) {
        return merge_scalars(original, patch);
    }
    if key.is_empty() {
        return Err(PatchError::NoMergeKeyDeclared);
    }

    // Directive items first: deletions act on the original, `replace` drops it.
    let mut original = original;
    let mut plain = Vec::new();
    let mut replace = false;
    for item in patch {
        let Value::Object(mut m) = item else { continue };
        match m.get(DIRECTIVE) {
            None => plain.push(m),
            Some(d) => match d.as_str() {
                Some("delete") => {
                    let Some(target) = m.get(key) else {
                        return Err(no_merge_key(&Value::Object(m), key));
                    };
                    original.retain(|o| o.get(key) != Some(target));
                }
                Some("replace") => replace = true,
                Some("merge") => {
                    m.shift_remove(DIRECTIVE);
                    plain.push(m);
                }
                _ => return Err(unknown_patch_type(d, &m)),
            },
        }
    }
    if replace {
        return plain
            .into_iter()
            .map(|m| merge_map(Map::new(), m, meta).map(Value::Object))
            .collect();
    }

    let server_order = original.clone();
    let mut merged = original;
    let mut patch_order = Vec::with_capacity(plain.len());
    for item in plain {
        let Some(target) = item.get(key).cloned() else {
            return Err(no_merge_key(&Value::Object(item), key));
        };
        patch_order.push(Value::Object(item.clone()));
        match merged.iter().position(|o| o.get(key) == Some(&target)) {
            Some(i) => {
                let Value::Object(o) = std::mem::take(&mut merged[i]) else {
                    continue;
                };
                merged[i] = Value::Object(merge_map(o, item, meta)?);
            }
            None => merged.push(Value::Object(merge_map(Map::new(), item, meta)?)),
        }
    }
    let (in_patch, server_only) = partition(merged, &patch_order, key)?;
    normalize_order(in_patch, server_only, &patch_order, &server_order, key)
}

/// A set union of scalars, ordered as upstream orders merged lists.
fn merge_scalars(original: Vec<Value>, patch: Vec<Value>) -> Result<Vec<Value>, PatchError> {
    let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
    for v in original.iter().chain(&patch) {
        if !merged.contains(v) {
            merged.push(v.clone());
        }
    }
    let (in_patch, server_only) = partition(merged, &patch, "")?;
    normalize_order(in_patch, server_only, &patch, &original, "")
}

/// Where `item` sits in `list`, by merge key (or by value for scalars).
fn position(list: &[Value], item: &Value, key: &str) -> Option<usize> {
    if key.is_empty() {
        list.iter().position(|v| v == item)
    } else {
        let target = item.get(key);
        list.iter().position(|v| v.get(key) == target)
    }
}

/// Splits `items` into those present in `by` and the rest, keeping their order.
fn partition(
    items: Vec<Value>,
    by: &[Value],
    key: &str,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::new();
    let mut absent = Vec::new();
    for item in items {
        let found = if key.is_empty() {
            by.contains(&item)
        } else {
            let target = key_value(&item, key)?;
            by.iter().any(|b| b.get(key) == Some(target))
        };
        if found {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// Sorts the patch's items by `patch_order` and the server-only items by `server_order`, then
/// interleaves them: a server-only item goes first only when the server had it before the
/// next patch item. Patch items the server never had therefore move ahead of server-only
/// items (upstream's `normalizeElementOrder` and `mergeSortedSlice`).
fn normalize_order(
    in_patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: &str,
) -> Result<Vec<Value>, PatchError> {
    let in_patch = sort_by_order(in_patch, patch_order, key)?;
    let server_only = sort_by_order(server_only, server_order, key)?;

    let mut out = Vec::with_capacity(in_patch.len() + server_only.len());
    let mut left = server_only.into_iter().peekable();
    let mut right = in_patch.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => matches!(
                (position(server_order, l, key), position(server_order, r, key)),
                (Some(li), Some(ri)) if li < ri
            ),
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    Ok(out)
}

fn sort_by_order(
    mut items: Vec<Value>,
    order: &[Value],
    key: &str,
) -> Result<Vec<Value>, PatchError> {
    if !key.is_empty() {
        for v in items.iter().chain(order) {
            key_value(v, key)?;
        }
    }
    items.sort_by_key(|v| position(order, v, key).unwrap_or(usize::MAX));
    Ok(items)
}
