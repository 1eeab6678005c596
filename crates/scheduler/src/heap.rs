//! A binary heap keyed by pod uid, so entries can be updated or removed in place (the
//! scheduling queue's activeQ and backoffQ).

use std::collections::HashMap;

pub struct Heap<T> {
    items: Vec<(String, T)>,
    index: HashMap<String, usize>,
}

impl<T> Default for Heap<T> {
    fn default() -> Self {
        Heap {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T> Heap<T> {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    pub fn get(&self, key: &str) -> Option<&T> {
        self.index.get(key).map(|&i| &self.items[i].1)
    }

    pub fn peek(&self) -> Option<&T> {
        self.items.first().map(|(_, v)| v)
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|(_, v)| v)
    }

    /// Inserts or replaces the entry for `key`.
    pub fn push(&mut self, key: String, value: T, less: &impl Fn(&T, &T) -> bool) {
        if let Some(&i) = self.index.get(&key) {
            self.items[i].1 = value;
            self.fix(i, less);
            return;
        }
        self.items.push((key.clone(), value));
        let i = self.items.len() - 1;
        self.index.insert(key, i);
        self.up(i, less);
    }

    pub fn pop(&mut self, less: &impl Fn(&T, &T) -> bool) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        self.remove_at(0, less)
    }

    pub fn remove(&mut self, key: &str, less: &impl Fn(&T, &T) -> bool) -> Option<T> {
        let i = *self.index.get(key)?;
        self.remove_at(i, less)
    }

    fn remove_at(&mut self, i: usize, less: &impl Fn(&T, &T) -> bool) -> Option<T> {
        let last = self.items.len() - 1;
        self.swap(i, last);
        let (key, value) = self.items.pop()?;
        self.index.remove(&key);
        if i < self.items.len() {
            self.fix(i, less);
        }
        Some(value)
    }

    fn swap(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.items.swap(a, b);
        if let Some(x) = self.index.get_mut(&self.items[a].0) {
            *x = a;
        }
        if let Some(x) = self.index.get_mut(&self.items[b].0) {
            *x = b;
        }
    }

    fn fix(&mut self, i: usize, less: &impl Fn(&T, &T) -> bool) {
        let i = self.up(i, less);
        self.down(i, less);
    }

    fn up(&mut self, mut i: usize, less: &impl Fn(&T, &T) -> bool) -> usize {
        while i > 0 {
            let parent = (i - 1) / 2;
            if less(&self.items[i].1, &self.items[parent].1) {
                self.swap(i, parent);
                i = parent;
            } else {
                break;
            }
        }
        i
    }

    fn down(&mut self, mut i: usize, less: &impl Fn(&T, &T) -> bool) {
        let n = self.items.len();
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut best = i;
            if l < n && less(&self.items[l].1, &self.items[best].1) {
                best = l;
            }
            if r < n && less(&self.items[r].1, &self.items[best].1) {
                best = r;
            }
            if best == i {
                return;
            }
            self.swap(i, best);
            i = best;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_with_updates_and_removals() {
        let less = |a: &i32, b: &i32| a < b;
        let mut h = Heap::default();
        for (k, v) in [("a", 5), ("b", 3), ("c", 8), ("d", 1), ("e", 7)] {
            h.push(k.to_string(), v, &less);
        }
        h.push("c".into(), 0, &less);
        assert_eq!(h.remove("b", &less), Some(3));
        assert_eq!(h.remove("zz", &less), None);
        let mut out = Vec::new();
        while let Some(v) = h.pop(&less) {
            out.push(v);
        }
        assert_eq!(out, [0, 1, 5, 7]);
        assert!(h.is_empty());
    }
}
