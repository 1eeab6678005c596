//! Which slices to create, update and delete (pure), with upstream's aim of little churn:
//! endpoints stay in the slice they are in, slices that change anyway are filled first,
//! one untouched slice may take all the remaining endpoints, and only then are new slices
//! made (reusing slices that would otherwise be deleted).

use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::discovery::v1::{Endpoint, EndpointPort, EndpointSlice};

use super::desired::{endpoint_key, ports_key, Group, PortsKey};

/// An existing slice, by name, as the plan sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing {
    pub name: String,
    pub ports: Vec<EndpointPort>,
    pub endpoints: Vec<Endpoint>,
    /// Its labels and annotations already say what they should.
    pub meta_current: bool,
}

impl Existing {
    pub fn from_slice(s: &EndpointSlice, meta_current: bool) -> Existing {
        Existing {
            name: s.metadata.name.clone().unwrap_or_default(),
            ports: s.ports.clone().unwrap_or_default(),
            endpoints: s.endpoints.clone().unwrap_or_default(),
            meta_current,
        }
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    pub create: Vec<Group>,
    /// Slice name → its new content.
    pub update: Vec<(String, Group)>,
    pub delete: Vec<String>,
}

struct Work {
    name: String,
    endpoints: Vec<Endpoint>,
    changed: bool,
}

pub fn plan(existing: &[Existing], desired: &BTreeMap<PortsKey, Group>, max: usize) -> Plan {
    let max = max.max(1);
    let mut plan = Plan::default();
    let mut by_ports: BTreeMap<PortsKey, Vec<&Existing>> = BTreeMap::new();
    for e in existing {
        by_ports.entry(ports_key(&e.ports)).or_default().push(e);
    }
    for (key, slices) in &by_ports {
        if !desired.contains_key(key) {
            plan.delete.extend(slices.iter().map(|s| s.name.clone()));
        }
    }
    for (key, group) in desired {
        let slices = by_ports.remove(key).unwrap_or_default();
        place(&mut plan, &slices, group, max);
    }
    plan
}

fn place(plan: &mut Plan, slices: &[&Existing], group: &Group, max: usize) {
    let mut wanted: HashMap<String, &Endpoint> = group
        .endpoints
        .iter()
        .map(|e| (endpoint_key(e), e))
        .collect();
    let mut changing: Vec<Work> = Vec::new();
    let mut unchanged: Vec<Work> = Vec::new();
    let mut emptied: Vec<String> = Vec::new();
    for s in slices {
        let mut kept: Vec<&Endpoint> = Vec::new();
        let mut changed = !s.meta_current;
        for ep in &s.endpoints {
            match wanted.remove(&endpoint_key(ep)) {
                Some(want) => {
                    changed |= want != ep;
                    kept.push(want);
                }
                None => changed = true,
            }
        }
        // A slice over the limit (the limit was lowered) sheds its tail to new homes.
        if kept.len() > max {
            for ep in kept.drain(max..) {
                wanted.insert(endpoint_key(ep), ep);
            }
            changed = true;
        }
        let work = Work {
            name: s.name.clone(),
            endpoints: kept.into_iter().cloned().collect(),
            changed,
        };
        if work.endpoints.is_empty() {
            emptied.push(work.name);
        } else if work.changed {
            changing.push(work);
        } else {
            unchanged.push(work);
        }
    }
    let mut remaining: Vec<Endpoint> = group
        .endpoints
        .iter()
        .filter(|e| wanted.contains_key(&endpoint_key(e)))
        .cloned()
        .collect();
    remaining.reverse();

    for w in &mut changing {
        while w.endpoints.len() < max {
            match remaining.pop() {
                Some(e) => w.endpoints.push(e),
                None => break,
            }
        }
    }
    if !remaining.is_empty() {
        unchanged.sort_by_key(|w| std::cmp::Reverse(w.endpoints.len()));
        if let Some(i) = unchanged
            .iter()
            .position(|w| w.endpoints.len() + remaining.len() <= max)
        {
            let mut w = unchanged.remove(i);
            while let Some(e) = remaining.pop() {
                w.endpoints.push(e);
            }
            w.changed = true;
            changing.push(w);
        }
    }
    while !remaining.is_empty() {
        let take = remaining.len().min(max);
        let chunk: Vec<Endpoint> = remaining.drain(remaining.len() - take..).rev().collect();
        let content = Group {
            ports: group.ports.clone(),
            endpoints: chunk,
        };
        match emptied.pop() {
            Some(name) => plan.update.push((name, content)),
            None => plan.create.push(content),
        }
    }
    for w in changing {
        plan.update.push((
            w.name,
            Group {
                ports: group.ports.clone(),
                endpoints: w.endpoints,
            },
        ));
    }
    plan.delete.extend(emptied);
}

#[cfg(test)]
mod tests;
