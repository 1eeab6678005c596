//! Name and metadata validation (to be written).
