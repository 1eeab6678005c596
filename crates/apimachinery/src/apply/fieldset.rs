//! A set of field paths (what one manager owns), and its `fieldsV1` JSON form.
//!
//! `fieldsV1` is a trie: each key is one step (`f:<field>`, `k:{"key":value}` for a list-map
//! item, `v:<json>` for a set item, `i:<index>`), each value the steps below it, and `"."`
//! marks that the node itself is in the set (written only when it also has children; a member
//! without children is an empty object `{}`). Keys are written in upstream's order (fields, then
//! keys, then values, then indices; see [`PathElement`]'s `Ord`), with `"."` first.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::path::{Path, PathElement};

/// A set of paths, stored as a trie.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Whether the path that leads to this node is itself in the set (never set at the root).
    member: bool,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> FieldSet {
        FieldSet::default()
    }

    /// Adds `path` (an empty path is the root, which is never a member: ignored).
    pub fn insert(&mut self, path: &[PathElement]) {
        let Some((first, rest)) = path.split_first() else {
            return;
        };
        // Steps already there are not copied (a write inserts every path of an object,
        // each through the same few parents).
        let child = match self.children.get_mut(first) {
            Some(c) => c,
            None => self.children.entry(first.clone()).or_default(),
        };
        if rest.is_empty() {
            child.member = true;
        } else {
            child.insert(rest);
        }
    }

    /// A set holding only its root path (a subtree's top, see [`Self::attach`]).
    pub(crate) fn member() -> FieldSet {
        FieldSet {
            member: true,
            children: BTreeMap::new(),
        }
    }

    /// Adds `sub` below one step (nothing if `sub` is empty).
    pub(crate) fn add_child(&mut self, pe: PathElement, sub: FieldSet) {
        if sub.is_empty() {
            return;
        }
        match self.children.get_mut(&pe) {
            Some(ours) => ours.absorb(sub),
            None => {
                self.children.insert(pe, sub);
            }
        }
    }

    /// Adds `sub`, a subtree whose top is `path` (nothing if `sub` is empty): one walk down
    /// for a whole value instead of one per path in it.
    pub(crate) fn attach(&mut self, path: &[PathElement], sub: FieldSet) {
        match path.split_first() {
            None => self.absorb(sub),
            Some((first, [])) => self.add_child(first.clone(), sub),
            Some((first, rest)) => {
                if sub.is_empty() {
                    return;
                }
                let child = match self.children.get_mut(first) {
                    Some(c) => c,
                    None => self.children.entry(first.clone()).or_default(),
                };
                child.attach(rest, sub);
            }
        }
    }

    /// Whether `path` itself is in the set.
    pub fn has(&self, path: &[PathElement]) -> bool {
        match path.split_first() {
            None => self.member,
            Some((first, rest)) => self.children.get(first).is_some_and(|c| c.has(rest)),
        }
    }

    /// The node below one step, if any path goes through it.
    pub fn child(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    pub fn is_empty(&self) -> bool {
        !self.member && self.children.values().all(FieldSet::is_empty)
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.member |= other.member;
        for (pe, theirs) in &other.children {
            let merged = match out.children.get(pe) {
                Some(ours) => ours.union(theirs),
                None => theirs.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// [`Self::union`] in place, taking `other` apart instead of copying it.
    pub fn absorb(&mut self, other: FieldSet) {
        self.member |= other.member;
        for (pe, theirs) in other.children {
            match self.children.get_mut(&pe) {
                Some(ours) => ours.absorb(theirs),
                None => {
                    self.children.insert(pe, theirs);
                }
            }
        }
    }

    /// [`Self::difference`] in place.
    pub fn subtract(&mut self, other: &FieldSet) {
        self.member &= !other.member;
        self.children.retain(|pe, ours| {
            if let Some(theirs) = other.children.get(pe) {
                ours.subtract(theirs);
            }
            !ours.is_empty()
        });
    }

    /// [`Self::recursive_difference`] in place.
    pub fn subtract_recursive(&mut self, other: &FieldSet) {
        if other.member {
            *self = FieldSet::new();
            return;
        }
        self.children
            .retain(|pe, ours| match other.children.get(pe) {
                Some(theirs) if theirs.member => false,
                Some(theirs) => {
                    ours.subtract_recursive(theirs);
                    !ours.is_empty()
                }
                None => !ours.is_empty(),
            });
    }

    /// The paths of `self` that are not in `other` (a node stays when only its children are
    /// removed, as upstream).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        for (pe, ours) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => ours.difference(theirs),
                None => ours.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    /// The paths of `self` that are neither in `other` nor under a path in `other`.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && !other.member,
            children: BTreeMap::new(),
        };
        if other.member {
            return out;
        }
        for (pe, ours) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) if theirs.member => continue,
                Some(theirs) => ours.recursive_difference(theirs),
                None => ours.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            member: self.member && other.member,
            children: BTreeMap::new(),
        };
        for (pe, ours) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = ours.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(pe.clone(), both);
                }
            }
        }
        out
    }

    /// Every path in the set, in upstream's iteration order: at each node the members among
    /// its children first, then the paths below each child. Conflicts are listed in this order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (pe, child) in &self.children {
            if child.member {
                let mut p = prefix.clone();
                p.push(pe.clone());
                out.push(p);
            }
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// The same set where every node reached through a field name is a member too. Pruning
    /// works on this form: a field that led to something the applier owned is itself a thing
    /// the applier may remove, and a field leading to something anyone owns must stay.
    pub(crate) fn with_fields_as_members(&self) -> FieldSet {
        let mut out = FieldSet {
            member: self.member,
            children: BTreeMap::new(),
        };
        for (pe, child) in &self.children {
            let mut c = child.with_fields_as_members();
            if matches!(pe, PathElement::Field(_)) {
                c.member = true;
            }
            out.children.insert(pe.clone(), c);
        }
        out
    }

    /// The `fieldsV1` JSON of this set.
    pub fn to_fields_v1(&self) -> Value {
        self.encode().unwrap_or_else(|| Value::Object(Map::new()))
    }

    /// This node's `fieldsV1` JSON; None when it is empty (children find that out once,
    /// bottom up, instead of each ancestor asking again).
    fn encode(&self) -> Option<Value> {
        let kids: Vec<(String, Value)> = self
            .children
            .iter()
            .filter_map(|(pe, child)| Some((element_key(pe), child.encode()?)))
            .collect();
        if kids.is_empty() {
            return self.member.then(|| Value::Object(Map::new()));
        }
        let mut m = Map::with_capacity(kids.len() + usize::from(self.member));
        if self.member {
            m.insert(".".to_string(), Value::Object(Map::new()));
        }
        m.extend(kids);
        Some(Value::Object(m))
    }

    /// Reads a `fieldsV1` JSON value. Errors name what is wrong, for the 400/500 text.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let mut set = FieldSet::decode_node(v)?;
        // `{}` at the root is the empty set, not a set holding the root.
        set.member = false;
        Ok(set)
    }

    fn decode_node(v: &Value) -> Result<FieldSet, String> {
        let Value::Object(m) = v else {
            return Err(format!("expected an object, got {v}"));
        };
        let mut out = FieldSet::new();
        if m.is_empty() {
            out.member = true;
        }
        for (key, sub) in m {
            if key == "." {
                out.member = true;
                continue;
            }
            let pe = parse_element_key(key)?;
            let child = FieldSet::decode_node(sub)?;
            out.children.insert(pe, child);
        }
        Ok(out)
    }
}

/// The `fieldsV1` key of one step.
fn element_key(pe: &PathElement) -> String {
    match pe {
        PathElement::Field(name) => {
            let mut key = String::with_capacity(name.len() + 2);
            key.push_str("f:");
            key.push_str(name);
            key
        }
        PathElement::Key(fields) => {
            let parts: Vec<String> = fields
                .iter()
                .map(|(n, v)| format!("{}:{}", go_json(&Value::String(n.clone())), go_json(v)))
                .collect();
            format!("k:{{{}}}", parts.join(","))
        }
        PathElement::Value(v) => format!("v:{}", go_json(v)),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

fn parse_element_key(key: &str) -> Result<PathElement, String> {
    let bad = |why: &str| format!("invalid fieldsV1 key {key:?}: {why}");
    let (kind, rest) = key.split_at_checked(2).ok_or_else(|| bad("too short"))?;
    match kind {
        "f:" => Ok(PathElement::Field(rest.to_string())),
        "v:" => serde_json::from_str(rest)
            .map(PathElement::Value)
            .map_err(|e| bad(&e.to_string())),
        "k:" => {
            let parsed: Value = serde_json::from_str(rest).map_err(|e| bad(&e.to_string()))?;
            let Value::Object(m) = parsed else {
                return Err(bad("key is not an object"));
            };
            let mut fields: Vec<(String, Value)> = m.into_iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        "i:" => rest
            .parse()
            .map(PathElement::Index)
            .map_err(|e| bad(&e.to_string())),
        _ => Err(bad("unknown kind of path element")),
    }
}

/// Compact JSON as Go's `encoding/json` writes it: object keys sorted, and `<`, `>`, `&`,
/// U+2028 and U+2029 escaped. Upstream writes `k:` and `v:` keys this way, and two servers must
/// write the same bytes for the same set.
pub(crate) fn go_json(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let plain = Value::String(s.clone()).to_string();
            let mut out = String::with_capacity(plain.len());
            for c in plain.chars() {
                match c {
                    '<' => out.push_str("\\u003c"),
                    '>' => out.push_str("\\u003e"),
                    '&' => out.push_str("\\u0026"),
                    '\u{2028}' => out.push_str("\\u2028"),
                    '\u{2029}' => out.push_str("\\u2029"),
                    c => out.push(c),
                }
            }
            out
        }
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(go_json).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            let parts: Vec<String> = entries
                .iter()
                .map(|(k, v)| format!("{}:{}", go_json(&Value::String((*k).clone())), go_json(v)))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        other => other.to_string(),
    }
}
