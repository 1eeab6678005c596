//! Hard eviction thresholds (`--eviction-hard`, upstream's syntax: `signal<quantity` or
//! `signal<percent%`, comma separated) and when they are met. Pure.

use crate::resources::milli_value;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Signal {
    MemoryAvailable,
    NodefsAvailable,
    NodefsInodesFree,
    ImagefsAvailable,
    ImagefsInodesFree,
    PidAvailable,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory.available",
            Signal::NodefsAvailable => "nodefs.available",
            Signal::NodefsInodesFree => "nodefs.inodesFree",
            Signal::ImagefsAvailable => "imagefs.available",
            Signal::ImagefsInodesFree => "imagefs.inodesFree",
            Signal::PidAvailable => "pid.available",
        }
    }

    fn parse(s: &str) -> Option<Signal> {
        [
            Signal::MemoryAvailable,
            Signal::NodefsAvailable,
            Signal::NodefsInodesFree,
            Signal::ImagefsAvailable,
            Signal::ImagefsInodesFree,
            Signal::PidAvailable,
        ]
        .into_iter()
        .find(|sig| sig.name() == s)
    }

    /// The resource a pod is evicted for, as the eviction message names it.
    pub fn resource(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "memory",
            Signal::NodefsAvailable | Signal::ImagefsAvailable => "ephemeral-storage",
            Signal::NodefsInodesFree | Signal::ImagefsInodesFree => "inodes",
            Signal::PidAvailable => "pids",
        }
    }

    /// The node condition this signal drives.
    pub fn condition(self) -> &'static str {
        match self {
            Signal::MemoryAvailable => "MemoryPressure",
            Signal::PidAvailable => "PIDPressure",
            _ => "DiskPressure",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value {
    /// Bytes (or a count, for inodes and pids).
    Quantity(u64),
    /// A fraction of the capacity, 0..=1.
    Percent(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Threshold {
    pub signal: Signal,
    pub value: Value,
    /// As written, for messages ("100Mi", "10%").
    pub text: String,
}

impl Threshold {
    /// The threshold in absolute terms for a capacity.
    pub fn absolute(&self, capacity: u64) -> u64 {
        match self.value {
            Value::Quantity(q) => q,
            Value::Percent(p) => (capacity as f64 * p) as u64,
        }
    }

    pub fn met(&self, available: u64, capacity: u64) -> bool {
        available < self.absolute(capacity)
    }
}

/// Upstream's defaults on Linux.
pub const DEFAULT_HARD: &str =
    "memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%";

pub fn parse(spec: &str) -> Result<Vec<Threshold>, String> {
    let mut out: Vec<Threshold> = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (sig, val) = part.split_once('<').ok_or_else(|| {
            format!("{part:?}: want signal<quantity, such as memory.available<100Mi")
        })?;
        let signal = Signal::parse(sig.trim())
            .ok_or_else(|| format!("{part:?}: unknown eviction signal {sig:?}"))?;
        let val = val.trim();
        let value = match val.strip_suffix('%') {
            Some(p) => {
                let p: f64 = p
                    .parse()
                    .map_err(|_| format!("{part:?}: invalid percentage {val:?}"))?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(format!("{part:?}: percentage must be within 0%..100%"));
                }
                Value::Percent(p / 100.0)
            }
            None => {
                let m = milli_value(val)
                    .filter(|m| *m >= 0)
                    .ok_or_else(|| format!("{part:?}: invalid quantity {val:?}"))?;
                Value::Quantity(u64::try_from(m / 1000).unwrap_or(u64::MAX))
            }
        };
        if out.iter().any(|t| t.signal == signal) {
            return Err(format!("{part:?}: {} given twice", signal.name()));
        }
        out.push(Threshold {
            signal,
            value,
            text: val.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing() {
        let cases = [
            (DEFAULT_HARD, "memory.available<100Mi=104857600 nodefs.available<10%=10 nodefs.inodesFree<5%=5 imagefs.available<15%=15 imagefs.inodesFree<5%=5"),
            ("memory.available<1Gi", "memory.available<1Gi=1073741824"),
            ("pid.available<1000", "pid.available<1000=1000"),
            ("memory.available>1Gi", "error: \"memory.available>1Gi\": want signal<quantity, such as memory.available<100Mi"),
            ("cpu.available<1", "error: \"cpu.available<1\": unknown eviction signal \"cpu.available\""),
            ("nodefs.available<120%", "error: \"nodefs.available<120%\": percentage must be within 0%..100%"),
            ("memory.available<1Gi,memory.available<2Gi", "error: \"memory.available<2Gi\": memory.available given twice"),
        ];
        for (spec, want) in cases {
            let got = match parse(spec) {
                Ok(ts) => ts
                    .iter()
                    .map(|t| format!("{}<{}={}", t.signal.name(), t.text, t.absolute(100)))
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(e) => format!("error: {e}"),
            };
            assert_eq!(got, want, "{spec}");
        }
    }

    #[test]
    fn met() {
        let t = &parse("memory.available<100Mi,nodefs.available<10%").unwrap();
        assert!(t[0].met(99 << 20, 1 << 34));
        assert!(!t[0].met(100 << 20, 1 << 34));
        assert!(t[1].met(9, 100));
        assert!(!t[1].met(10, 100));
    }
}
