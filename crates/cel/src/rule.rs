//! A compiled rule and its evaluation against JSON.

use crate::{analysis, convert, env, CelError};
use cel_interp::{Context, Env, ExecutionError, Program, Value};
use std::sync::Arc;

/// A compiled CEL expression. Compile once (see [`crate::cached`]), evaluate per object.
pub struct Rule {
    program: Program,
    /// Kept so evaluation needs no global lookup; every rule shares the one environment.
    env: Arc<Env>,
    /// Variables the expression reads from its bindings. Binding converts a whole JSON
    /// value, so variables the rule never reads are not bound.
    variables: Vec<String>,
    uses_old_self: bool,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("uses_old_self", &self.uses_old_self)
            .finish_non_exhaustive()
    }
}

impl Rule {
    /// Compiles an expression once; the result is cached by callers.
    ///
    /// Checks syntax and that every function called is declared. cel-rust has no type
    /// checker, so argument types are only checked when evaluation reaches a call, and
    /// variables are the caller's to check (see [`Rule::variables`]).
    pub fn compile(expr: &str) -> Result<Rule, CelError> {
        let env = env::shared()?;
        let program = env
            .compile(expr)
            .map_err(|e| CelError::Compile(e.to_string()))?;
        let analysis = analysis::analyse(program.expression(), &env);
        if let Some(name) = analysis.undeclared_functions.first() {
            return Err(CelError::Compile(format!(
                "undeclared reference to '{name}'"
            )));
        }
        let variables = analysis.variables;
        let uses_old_self = variables.iter().any(|v| v == "oldSelf");
        Ok(Rule {
            program,
            env,
            variables,
            uses_old_self,
        })
    }

    /// Whether the expression mentions `oldSelf` (a transition rule). Such a rule is only
    /// evaluated on update, when there is an old value to bind.
    pub fn uses_old_self(&self) -> bool {
        self.uses_old_self
    }

    /// The variables the expression reads from its bindings, in order of first use;
    /// variables that `all`, `exists`, `map`... bind are not listed. A CRD rule may read
    /// only `self` and `oldSelf`: check this when the CRD is written, since evaluation
    /// only fails on an unknown variable once it reaches it.
    pub fn variables(&self) -> &[String] {
        &self.variables
    }

    /// Evaluates with `self` = `self_value` and `oldSelf` = `old_self` when given; the
    /// result must be a bool.
    pub fn eval_bool(
        &self,
        self_value: &serde_json::Value,
        old_self: Option<&serde_json::Value>,
    ) -> Result<bool, CelError> {
        match self.execute(&self_vars(self_value, old_self))? {
            Value::Bool(b) => Ok(b),
            other => Err(CelError::NotBool(other.type_of().to_string())),
        }
    }

    /// Evaluates like [`Rule::eval_bool`], for `messageExpression`: the result must be a
    /// string.
    pub fn eval_string(
        &self,
        self_value: &serde_json::Value,
        old_self: Option<&serde_json::Value>,
    ) -> Result<String, CelError> {
        match self.execute(&self_vars(self_value, old_self))? {
            Value::String(s) => Ok(Arc::unwrap_or_clone(s)),
            other => Err(CelError::NotString(other.type_of().to_string())),
        }
    }

    /// General form for admission policies: any named variables (e.g. `object`,
    /// `oldObject`, `params`, `request`), result as JSON.
    pub fn eval(&self, vars: &[(&str, &serde_json::Value)]) -> Result<serde_json::Value, CelError> {
        convert::to_json(&self.execute(vars)?)
    }

    fn execute(&self, vars: &[(&str, &serde_json::Value)]) -> Result<Value, CelError> {
        let mut context = Context::with_env(Arc::clone(&self.env));
        for (name, value) in vars {
            if self.variables.iter().any(|v| v == name) {
                context.add_variable_as_val(*name, convert::to_val(value));
            }
        }
        self.program.execute(&context).map_err(eval_error)
    }
}

fn self_vars<'a>(
    self_value: &'a serde_json::Value,
    old_self: Option<&'a serde_json::Value>,
) -> Vec<(&'static str, &'a serde_json::Value)> {
    let mut vars = vec![("self", self_value)];
    if let Some(old) = old_self {
        vars.push(("oldSelf", old));
    }
    vars
}

/// Words the errors clients see most as the Kubernetes API server does: lowercase, the
/// key or name quoted from the rule, no Rust debug syntax. The rest keep cel-rust's text.
fn eval_error(e: ExecutionError) -> CelError {
    CelError::Eval(match e {
        ExecutionError::NoSuchKey(key) => format!("no such key: {key}"),
        ExecutionError::UndeclaredReference(name) => format!("undeclared reference to '{name}'"),
        ExecutionError::DivisionByZero(_) => "division by zero".to_owned(),
        ExecutionError::RemainderByZero(_) => "modulus by zero".to_owned(),
        ExecutionError::Overflow(op, _, _) => format!("integer overflow in {op}"),
        ExecutionError::IndexOutOfBounds(index) => match convert::to_json(&index) {
            Ok(index) => format!("index out of bounds: {index}"),
            Err(_) => "index out of bounds".to_owned(),
        },
        ExecutionError::FunctionError { function, message } => format!("{function}(): {message}"),
        other => other.to_string(),
    })
}
