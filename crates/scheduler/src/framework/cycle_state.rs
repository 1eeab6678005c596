//! Data one scheduling cycle's plugins share: PreFilter and PreScore compute once per pod,
//! Filter and Score read per node. Cloneable, so preemption can simulate on a copy.

use std::any::Any;

/// Anything a plugin stores in the cycle state.
pub trait StateData: Any + Send + Sync {
    fn clone_data(&self) -> Box<dyn StateData>;
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_data(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Plugin names whose Filter or Score is skipped this cycle. A handful at most: a list
/// scanned by comparison beats hashing on every node.
#[derive(Debug, Clone, Default)]
pub struct SkipSet(Vec<&'static str>);

impl SkipSet {
    pub fn insert(&mut self, name: &'static str) {
        if !self.contains(name) {
            self.0.push(name);
        }
    }
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Entries are few (one or two per plugin) and read once per node per plugin, so they
/// live in a list scanned by key rather than a hash map.
#[derive(Default)]
pub struct CycleState {
    data: Vec<(&'static str, Box<dyn StateData>)>,
    /// Keys written with `write_for_scheduling`: dropped before the binding cycle.
    scheduling_only: Vec<&'static str>,
    /// Plugins whose PreFilter returned Skip: their Filter is not run this cycle.
    pub skip_filter_plugins: SkipSet,
    /// Plugins whose PreScore returned Skip: their Score is not run this cycle.
    pub skip_score_plugins: SkipSet,
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        CycleState {
            data: self
                .data
                .iter()
                .map(|(k, v)| (*k, v.as_ref().clone_data()))
                .collect(),
            scheduling_only: self.scheduling_only.clone(),
            skip_filter_plugins: self.skip_filter_plugins.clone(),
            skip_score_plugins: self.skip_score_plugins.clone(),
        }
    }
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState")
            .field(
                "keys",
                &self.data.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl CycleState {
    pub fn new() -> CycleState {
        CycleState::default()
    }

    pub fn write<T: Any + Clone + Send + Sync>(&mut self, key: &'static str, value: T) {
        match self.data.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = Box::new(value),
            None => self.data.push((key, Box::new(value))),
        }
    }

    /// As `write`, for data only the scheduling cycle reads (PreFilter/PreScore counts):
    /// it is dropped before the binding cycle, so a plugin caching it across cycles gets
    /// its shared copy back without waiting for bindings in flight.
    pub fn write_for_scheduling<T: Any + Clone + Send + Sync>(
        &mut self,
        key: &'static str,
        value: T,
    ) {
        self.write(key, value);
        if !self.scheduling_only.contains(&key) {
            self.scheduling_only.push(key);
        }
    }

    /// Drops what `write_for_scheduling` stored (the scheduler calls this after Permit).
    pub fn drop_scheduling_data(&mut self) {
        let keys = std::mem::take(&mut self.scheduling_only);
        self.data.retain(|(k, _)| !keys.contains(k));
    }

    /// `None` if nothing of type `T` was written under `key`.
    pub fn read<T: Any>(&self, key: &'static str) -> Option<&T> {
        let (_, v) = self.data.iter().find(|(k, _)| *k == key)?;
        v.as_ref().as_any().downcast_ref()
    }

    pub fn get_mut<T: Any>(&mut self, key: &'static str) -> Option<&mut T> {
        let (_, v) = self.data.iter_mut().find(|(k, _)| *k == key)?;
        v.as_mut().as_any_mut().downcast_mut()
    }

    pub fn delete(&mut self, key: &'static str) {
        self.data.retain(|(k, _)| *k != key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_reads_and_clones() {
        let mut s = CycleState::new();
        s.write("a", vec![1u32, 2]);
        s.write("b", String::from("x"));
        let c = s.clone();
        s.get_mut::<Vec<u32>>("a").expect("a").push(3);
        assert_eq!(s.read::<Vec<u32>>("a"), Some(&vec![1, 2, 3]));
        assert_eq!(c.read::<Vec<u32>>("a"), Some(&vec![1, 2]));
        assert_eq!(c.read::<u32>("a"), None);
        assert_eq!(c.read::<String>("b").map(String::as_str), Some("x"));
        assert_eq!(c.read::<String>("missing"), None);

        s.write_for_scheduling("counts", 7u64);
        s.drop_scheduling_data();
        assert_eq!(s.read::<u64>("counts"), None);
        assert!(
            s.read::<String>("b").is_some(),
            "other data stays for the binding cycle"
        );
    }
}
