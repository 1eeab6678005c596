//! Quantities as admission compares and prints them: thousandths, as upstream compares at
//! milli precision, written back in upstream's canonical form (`1500m`, `2`, `64Mi`).

/// A quantity in thousandths, as upstream compares at milli precision, with whether it
/// was written in powers of two (for printing it back the same way).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Amount {
    pub milli: i128,
    pub binary: bool,
}

impl Amount {
    pub fn count(n: usize) -> Amount {
        Amount {
            milli: i128::try_from(n).unwrap_or(i128::MAX / 1000) * 1000,
            binary: false,
        }
    }

    /// A quantity as JSON holds it: a string, or (leniently) a bare number.
    pub fn of(v: &serde_json::Value) -> Option<Amount> {
        match v {
            serde_json::Value::String(s) => Amount::parse(s),
            serde_json::Value::Number(n) => Amount::parse(&n.to_string()),
            _ => None,
        }
    }

    /// Parsed exactly, rounded up to a thousandth as upstream rounds.
    pub fn parse(s: &str) -> Option<Amount> {
        Some(Amount {
            milli: apimachinery::quantity::parse_milli(s)?,
            binary: s.trim_end().ends_with('i'),
        })
    }

    pub fn add(self, other: Amount) -> Amount {
        Amount {
            milli: self.milli + other.milli,
            binary: if self.milli == 0 {
                other.binary
            } else {
                self.binary
            },
        }
    }

    pub fn max(self, other: Amount) -> Amount {
        if other.milli > self.milli {
            other
        } else {
            self
        }
    }

    /// Upstream's canonical form: the largest suffix that keeps the number whole.
    pub fn canonical(self) -> String {
        apimachinery::quantity::canonical_milli(self.milli, self.binary)
    }
}

#[cfg(test)]
mod tests {
    use super::Amount;

    #[test]
    fn parse_and_print() {
        for (input, milli, canonical) in [
            ("0.7", 700, "700m"),
            ("0.2", 200, "200m"),
            ("1.5", 1500, "1500m"),
            ("500m", 500, "500m"),
            ("1000m", 1000, "1"),
            ("64Mi", 64 * 1024 * 1024 * 1000, "64Mi"),
            ("1.5Gi", 1536 * 1024 * 1024 * 1000, "1536Mi"),
            ("2e3", 2_000_000, "2k"),
            ("1n", 1, "1m"),
            ("129M", 129_000_000_000, "129M"),
        ] {
            let a = Amount::parse(input);
            assert_eq!(a.map(|a| a.milli), Some(milli), "{input}");
            assert_eq!(
                a.map(Amount::canonical).as_deref(),
                Some(canonical),
                "{input}"
            );
        }
        assert_eq!(Amount::parse("x"), None);
        assert_eq!(Amount::parse("1Q"), None);
    }
}
