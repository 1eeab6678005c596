//! The one CEL environment every rule is compiled and evaluated in.

use crate::{k8s_lists, CelError};
use cel_interp::extensions;
use cel_interp::Env;
use std::sync::{Arc, OnceLock};

/// Built once: registering the standard library and extensions walks a few hundred
/// overloads, which would dominate the cost of a small rule if done per evaluation.
static ENV: OnceLock<Result<Arc<Env>, CelError>> = OnceLock::new();

/// The shared environment: the CEL standard library, cel-go's strings and lists
/// extensions (`lowerAscii`, `upperAscii`, `indexOf`, `split`, `join`, `trim`, `sort`,
/// `distinct`, ...), and the Kubernetes list functions the extensions lack.
pub(crate) fn shared() -> Result<Arc<Env>, CelError> {
    ENV.get_or_init(build).clone()
}

fn build() -> Result<Arc<Env>, CelError> {
    let mut env = Env::stdlib();
    let declare = |e: cel_interp::DeclarationError| CelError::Compile(format!("environment: {e}"));
    env.add_extension(extensions::strings).map_err(declare)?;
    env.add_extension(extensions::lists).map_err(declare)?;
    env.add_extension(k8s_lists::extension).map_err(declare)?;
    Ok(Arc::new(env))
}
