//! Key and value rules for selectors are the label rules of `validation`, with its messages.

pub(crate) use crate::validation::{
    is_qualified_name as qualified_name_errors, is_valid_label_value as label_value_errors,
};
