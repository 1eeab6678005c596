//! Value validations of the root may only name properties and items the skeleton has.

use super::{obj, Obj};
use apimachinery::field::{FieldError, FieldErrors, Path};
use serde_json::Value;

/// Every property and items a value validation of the root mentions must exist in the
/// skeleton too (upstream checks this from the root's value validations only).
pub(super) fn check(v: &Obj, s: &Obj, s_path: &Path, v_path: &Path, out: &mut FieldErrors) {
    let mut visit = |node: &Obj, vp: Path| completeness_nested(node, Some(s), s_path, &vp, out);
    if let Some(not) = obj(v, "not") {
        visit(not, v_path.child("not"));
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        for (i, x) in v
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            if let Some(xm) = x.as_object() {
                visit(xm, v_path.child(key).index(i));
            }
        }
    }
}

fn completeness_nested(
    v: &Obj,
    s: Option<&Obj>,
    s_path: &Path,
    v_path: &Path,
    out: &mut FieldErrors,
) {
    let Some(s) = s else {
        out.push(FieldError::required(
            s_path.clone(),
            format!("because it is defined in {v_path}"),
        ));
        return;
    };
    check(v, s, s_path, v_path, out);
    if let Some(items) = obj(v, "items") {
        completeness_nested(
            items,
            obj(s, "items"),
            &s_path.child("items"),
            &v_path.child("items"),
            out,
        );
    }
    for (k, x) in obj(v, "properties").into_iter().flatten() {
        let Some(xm) = x.as_object() else { continue };
        let sp = s_path.child("properties").key(k);
        let vp = v_path.child("properties").key(k);
        match obj(s, "properties").and_then(|p| obj(p, k)) {
            Some(sm) => completeness_nested(xm, Some(sm), &sp, &vp, out),
            None => out.push(FieldError::required(
                sp,
                format!("because it is defined in {vp}"),
            )),
        }
    }
}
