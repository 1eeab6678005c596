//! CEL (Common Expression Language) rules for CRD `x-kubernetes-validations` and
//! ValidatingAdmissionPolicy expressions.
//!
//! Parsing and evaluation are the `cel` crate's (cel-rust, renamed `cel_interp` here); this
//! crate only decides what Kubernetes rules see: JSON bound as variables (`self`, `oldSelf`,
//! `object`, ...), the extension libraries CRD authors use, errors worded the way clients
//! expect, and a process-wide compile cache. It does no IO.

mod analysis;
mod cache;
mod convert;
mod env;
mod k8s_lists;
mod rule;

pub use cache::cached;
pub use rule::Rule;

/// Why a rule could not be compiled or evaluated. Messages are meant for the API
/// client, so they name the rule's own words (key, function, type) rather than ours.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CelError {
    /// The expression does not parse (the message carries the position and a caret line).
    #[error("compilation failed: {0}")]
    Compile(String),
    /// Evaluation failed, e.g. `no such key: x` or no matching overload.
    #[error("{0}")]
    Eval(String),
    /// `eval_bool` got another type; the payload is the type's CEL name.
    #[error("rule returned {0}, want bool")]
    NotBool(String),
    /// `eval_string` got another type; the payload is the type's CEL name.
    #[error("expression returned {0}, want string")]
    NotString(String),
    /// `eval` produced a value JSON cannot carry (bytes that are not UTF-8, a type, a NaN...).
    #[error("result cannot be represented as JSON: {0}")]
    NotJson(String),
}

#[cfg(test)]
mod tests;
