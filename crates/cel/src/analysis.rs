//! What a parsed expression reads and calls, found by walking its tree once at compile time.
//!
//! cel-rust has no type checker, so an unknown variable or function would only fail when
//! evaluation reaches it, on some later object write. Kubernetes refuses such rules when
//! the CRD or policy is written; this walk gives callers what they need to do the same.
//! cel-rust's own reference list cannot serve: it also names the variables that `all`,
//! `exists`, `map`... bind themselves, and the namespaces of functions like `strings.quote`.

use cel_interp::common::ast::{EntryExpr, Expr, IdedEntryExpr, IdedExpr};
use cel_interp::{Context, Env};
use std::sync::Arc;

pub(crate) struct Analysis {
    /// Names read but not bound inside the expression, in order of first use.
    pub(crate) variables: Vec<String>,
    /// Functions called that the environment does not declare, in order of first use.
    pub(crate) undeclared_functions: Vec<String>,
}

pub(crate) fn analyse(expr: &IdedExpr, env: &Arc<Env>) -> Analysis {
    let mut walker = Walker {
        env,
        bound: Vec::new(),
        out: Analysis {
            variables: Vec::new(),
            undeclared_functions: Vec::new(),
        },
    };
    walker.walk(expr);
    walker.out
}

struct Walker<'a> {
    env: &'a Arc<Env>,
    /// Variables bound by the comprehensions around the node being walked.
    bound: Vec<&'a str>,
    out: Analysis,
}

impl<'a> Walker<'a> {
    fn walk(&mut self, expr: &'a IdedExpr) {
        match &expr.expr {
            Expr::Ident(name) => {
                // Type names (`int`, `string`, ...) are identifiers too: `type(x) == int`.
                if !self.bound.contains(&name.as_str())
                    && self.env.types().find_type(name).is_none()
                    && !self.out.variables.contains(name)
                {
                    self.out.variables.push(name.clone());
                }
            }
            Expr::Select(select) => self.walk(&select.operand),
            Expr::Call(call) => {
                let namespaced = call
                    .target
                    .as_deref()
                    .and_then(|target| self.namespaced_function(target, &call.func_name));
                match (namespaced, &call.target) {
                    (Some(name), _) => self.check_function(name),
                    (None, Some(target)) => {
                        self.walk(target);
                        self.check_function(call.func_name.clone());
                    }
                    (None, None) => self.check_function(call.func_name.clone()),
                }
                for arg in &call.args {
                    self.walk(arg);
                }
            }
            Expr::List(list) => {
                for element in &list.elements {
                    self.walk(element);
                }
            }
            Expr::Map(map) => self.entries(&map.entries),
            Expr::Struct(st) => self.entries(&st.entries),
            Expr::Comprehension(c) => {
                // The range and the initial accumulator are evaluated outside the loop.
                self.walk(&c.iter_range);
                self.walk(&c.accu_init);
                let outer = self.bound.len();
                self.bound.push(&c.iter_var);
                if let Some(var) = &c.iter_var2 {
                    self.bound.push(var);
                }
                self.bound.push(&c.accu_var);
                self.walk(&c.loop_cond);
                self.walk(&c.loop_step);
                self.walk(&c.result);
                self.bound.truncate(outer);
            }
            Expr::Literal(_) | Expr::Unspecified => {}
        }
    }

    fn entries(&mut self, entries: &'a [IdedEntryExpr]) {
        for entry in entries {
            match &entry.expr {
                EntryExpr::MapEntry(e) => {
                    self.walk(&e.key);
                    self.walk(&e.value);
                }
                EntryExpr::StructField(f) => self.walk(&f.value),
            }
        }
    }

    /// `strings.quote(x)` parses as a call of `quote` on the identifier `strings`; the
    /// interpreter calls the global `strings.quote` when one is declared (and no loop
    /// variable shadows `strings`), and so does this walk.
    fn namespaced_function(&self, target: &IdedExpr, func_name: &str) -> Option<String> {
        let Expr::Ident(root) = &target.expr else {
            return None;
        };
        let name = format!("{root}.{func_name}");
        (!self.bound.contains(&root.as_str()) && is_declared(self.env, &name)).then_some(name)
    }

    /// Records `name` if no overload declares it. Operators (`_==_`, `!_`,
    /// `@not_strictly_false`, ...) are left out: the interpreter evaluates several of them
    /// itself, without a declaration.
    fn check_function(&mut self, name: String) {
        let is_operator = !name.starts_with(|c: char| c.is_ascii_alphabetic());
        if !is_operator
            && !self.out.undeclared_functions.contains(&name)
            && !is_declared(self.env, &name)
        {
            self.out.undeclared_functions.push(name);
        }
    }
}

/// Whether `env` declares an overload named `name`. cel-rust keeps that query private;
/// `Context::add_function` is documented to refuse exactly such a name, so a throwaway
/// context answers it. Only compiling pays for this.
fn is_declared(env: &Arc<Env>, name: &str) -> bool {
    let mut probe = Context::with_env(Arc::clone(env));
    probe.add_function(name, || true).is_err()
}
