//! Leases and lease candidates.

use super::{creation_age, docs, name_cell, s, str_at, Column, Printer, AGE, NAME};

pub static LEASES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("Holder", "string", docs::LEASE_SPEC_HOLDER_IDENTITY),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(str_at(obj, &["spec", "holderIdentity"])),
            creation_age(obj, now),
        ]
    },
};

pub static LEASE_CANDIDATES: Printer = Printer {
    columns: &[
        NAME,
        Column::new("LeaseName", "string", docs::LEASE_CANDIDATE_SPEC_LEASE_NAME),
        // Upstream looks these descriptions up in ObjectMeta's docs, which have none.
        Column::new("BinaryVersion", "string", ""),
        Column::new("EmulationVersion", "string", ""),
        AGE,
    ],
    row: |obj, now| {
        vec![
            name_cell(obj),
            s(str_at(obj, &["spec", "leaseName"])),
            s(str_at(obj, &["spec", "binaryVersion"])),
            s(str_at(obj, &["spec", "emulationVersion"])),
            creation_age(obj, now),
        ]
    },
};
