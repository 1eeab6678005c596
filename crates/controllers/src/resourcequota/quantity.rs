//! Sums of quantities in milli-units, written back in upstream's canonical form
//! (`1500m`, `2`, `3k`, `192Mi`), so a quota's `used` reads like its `hard`.

/// Whether a quantity is written in powers of two (`Mi`) or ten (`M`, `m`, none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Decimal,
    Binary,
}

/// A sum in thousandths, written in the format of its first addend (as upstream's
/// `Quantity.Add` keeps the receiver's format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sum {
    pub milli: i128,
    pub format: Option<Format>,
}

pub fn format_of(s: &str) -> Format {
    if s.trim_end().ends_with('i') {
        Format::Binary
    } else {
        Format::Decimal
    }
}

/// The quantity in thousandths, exactly and rounded up as upstream rounds to milli
/// precision (the apiserver's quota admission charges with the same arithmetic).
pub fn parse_milli(s: &str) -> Option<i128> {
    apimachinery::quantity::parse_milli(s)
}

impl Sum {
    pub fn count(n: usize) -> Sum {
        Sum {
            milli: i128::try_from(n).unwrap_or(i128::MAX / 1000) * 1000,
            format: Some(Format::Decimal),
        }
    }

    pub fn add_str(&mut self, q: &str) {
        if let Some(m) = parse_milli(q) {
            self.milli += m;
            self.format.get_or_insert(format_of(q));
        }
    }

    pub fn add(&mut self, other: Sum) {
        self.milli += other.milli;
        if let Some(f) = other.format {
            self.format.get_or_insert(f);
        }
    }

    pub fn max(self, other: Sum) -> Sum {
        if other.milli > self.milli {
            Sum {
                milli: other.milli,
                format: self.format.or(other.format),
            }
        } else {
            Sum {
                milli: self.milli,
                format: self.format.or(other.format),
            }
        }
    }

    pub fn canonical(&self) -> String {
        canonical(self.milli, self.format.unwrap_or(Format::Decimal))
    }
}

/// Upstream's canonical string; binary amounts that are not whole bytes fall back to
/// decimal.
pub fn canonical(milli: i128, format: Format) -> String {
    apimachinery::quantity::canonical_milli(milli, format == Format::Binary)
}

#[cfg(test)]
mod tests;
