//! Merging an applied configuration into the live object.
//!
//! Objects merge field by field; list-map items merge by key; set items are united; scalars,
//! atomic lists and atomic objects are replaced. A `null` in the configuration removes the
//! field (the applier still owns it). The order of a merged list is upstream's: items only the
//! live list has keep their place and come as early as they can, items both have follow the
//! configuration's order, and new items come where the configuration puts them.

use serde_json::{Map, Value};

use super::path::PathElement;
use super::schema::{child, item_elements, shape, Shape};
use crate::patch::PatchMeta;

pub(crate) fn merge_objects(
    live: &Map<String, Value>,
    config: &Map<String, Value>,
    meta: &dyn PatchMeta,
) -> Map<String, Value> {
    let mut out = live.clone();
    for (name, cv) in config {
        match merge_field(name, live.get(name), cv, meta) {
            Some(v) => {
                out.insert(name.clone(), v);
            }
            None => {
                out.shift_remove(name);
            }
        }
    }
    out
}

/// The merged value of field `name`, or `None` when the configuration removes it.
fn merge_field(
    name: &str,
    live: Option<&Value>,
    config: &Value,
    parent: &dyn PatchMeta,
) -> Option<Value> {
    if config.is_null() {
        return None;
    }
    let live = live.filter(|l| std::mem::discriminant(*l) == std::mem::discriminant(config));
    match (shape(parent, name, config), config) {
        (Shape::Object, Value::Object(cm)) => {
            let empty = Map::new();
            let lm = match live {
                Some(Value::Object(lm)) => lm,
                _ => &empty,
            };
            Some(Value::Object(merge_objects(lm, cm, &*child(parent, name))))
        }
        (s @ (Shape::ListMap(_) | Shape::ListSet), Value::Array(ci)) => {
            let li: &[Value] = match live {
                Some(Value::Array(li)) => li,
                _ => &[],
            };
            let item_meta = child(parent, name);
            let lpes = item_elements(parent, name, &s, li);
            let cpes = item_elements(parent, name, &s, ci);
            let items = merged_order(&lpes, &cpes)
                .into_iter()
                .filter_map(|(l, c)| match (l, c) {
                    (Some(l), None) => Some(li[l].clone()),
                    (l, Some(c)) => match (&s, l.map(|l| &li[l]), &ci[c]) {
                        (Shape::ListMap(_), Some(Value::Object(lm)), Value::Object(cm)) => {
                            Some(Value::Object(merge_objects(lm, cm, &*item_meta)))
                        }
                        (Shape::ListMap(_), _, Value::Object(cm)) => {
                            Some(Value::Object(merge_objects(&Map::new(), cm, &*item_meta)))
                        }
                        _ => Some(ci[c].clone()),
                    },
                    (None, None) => None,
                })
                .collect();
            Some(Value::Array(items))
        }
        _ => Some(config.clone()),
    }
}

/// The order of a merged list, as pairs of (live index, config index). Live items that cannot
/// be identified are kept where they are.
fn merged_order(
    live: &[Option<PathElement>],
    config: &[Option<PathElement>],
) -> Vec<(Option<usize>, Option<usize>)> {
    let in_config = |pe: &PathElement| config.iter().position(|c| c.as_ref() == Some(pe));
    let in_live = |pe: &PathElement| live.iter().position(|l| l.as_ref() == Some(pe));
    // The shared items, in the configuration's order; the next one still to place comes first.
    let mut shared: std::collections::VecDeque<usize> = config
        .iter()
        .enumerate()
        .filter(|(j, c)| {
            c.as_ref()
                .is_some_and(|pe| in_live(pe).is_some() && in_config(pe) == Some(*j))
        })
        .map(|(j, _)| j)
        .collect();
    let mut placed_live = vec![false; live.len()];
    let mut placed_config = vec![false; config.len()];
    let mut out = Vec::with_capacity(live.len().max(config.len()));
    let (mut li, mut ci) = (0, 0);
    while li < live.len() || ci < config.len() {
        if li < live.len() {
            if placed_live[li] {
                li += 1;
                continue;
            }
            let Some(pe) = &live[li] else {
                out.push((Some(li), None));
                li += 1;
                continue;
            };
            match in_config(pe) {
                None => {
                    out.push((Some(li), None));
                    li += 1;
                    continue;
                }
                Some(j) if j == ci => {
                    out.push((Some(li), Some(ci)));
                    placed_live[li] = true;
                    placed_config[ci] = true;
                    shared.retain(|&s| s != ci);
                    li += 1;
                    ci += 1;
                    continue;
                }
                Some(j) if shared.front() != Some(&j) => {
                    // Shared, but not the next one: it is placed when the configuration
                    // reaches it.
                    li += 1;
                    continue;
                }
                Some(_) => {}
            }
        }
        if ci >= config.len() {
            break;
        }
        if placed_config[ci] {
            ci += 1;
            continue;
        }
        let l = config[ci].as_ref().and_then(in_live);
        // A duplicate of a configuration item already placed is dropped.
        if config[ci]
            .as_ref()
            .is_some_and(|pe| in_config(pe) != Some(ci))
        {
            ci += 1;
            continue;
        }
        if let Some(l) = l {
            placed_live[l] = true;
        }
        shared.retain(|&s| s != ci);
        placed_config[ci] = true;
        out.push((l, Some(ci)));
        ci += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn order(live: &[&str], config: &[&str]) -> String {
        let pe = |s: &&str| Some(PathElement::Value(json!(s)));
        let l: Vec<_> = live.iter().map(pe).collect();
        let c: Vec<_> = config.iter().map(pe).collect();
        merged_order(&l, &c)
            .into_iter()
            .map(|(li, ci)| match (li, ci) {
                (_, Some(ci)) => config[ci].to_string(),
                (Some(li), None) => live[li].to_string(),
                (None, None) => "?".to_string(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn merged_list_order() {
        // Live-only items come as early as they can; shared ones follow the configuration.
        assert_eq!(order(&["a", "b"], &["c"]), "a,b,c");
        assert_eq!(order(&["a", "b", "c"], &["c", "d", "a"]), "b,c,d,a");
        assert_eq!(order(&[], &["x", "y"]), "x,y");
        assert_eq!(order(&["x", "y"], &[]), "x,y");
        assert_eq!(order(&["a", "b", "c"], &["b", "a"]), "b,c,a");
        assert_eq!(order(&["a", "b", "c"], &["a", "x", "c"]), "a,b,x,c");
    }
}
