//! One module per resource strategy, grouped by API group: `strategies/<group>/<plural>.rs`.

use crate::{DefaultStrategy, Strategy};

/// The strategy of a resource (`group` is "" for core), or the default strategy.
pub fn for_resource(_group: &str, _plural: &str) -> &'static dyn Strategy {
    &DefaultStrategy
}
