//! The variables an expression reads from its bindings, found by walking the parsed tree.
//!
//! cel-rust's own reference list also names the variables that `all`, `exists`, `map`...
//! bind themselves, so it cannot tell a rule that reads `foo` from one that iterates with
//! `foo`; callers need exactly that to reject undeclared variables when a CRD is written.

use cel_interp::common::ast::{EntryExpr, Expr, IdedExpr};

/// Names read but not bound inside `expr`, in order of first use.
pub(crate) fn free_variables(expr: &IdedExpr) -> Vec<String> {
    let mut found = Vec::new();
    walk(expr, &mut Vec::new(), &mut found);
    found
}

fn walk<'a>(expr: &'a IdedExpr, bound: &mut Vec<&'a str>, found: &mut Vec<String>) {
    match &expr.expr {
        Expr::Ident(name) => {
            if !bound.contains(&name.as_str()) && !found.contains(name) {
                found.push(name.clone());
            }
        }
        Expr::Select(select) => walk(&select.operand, bound, found),
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                if !is_namespace(target, bound) {
                    walk(target, bound, found);
                }
            }
            for arg in &call.args {
                walk(arg, bound, found);
            }
        }
        Expr::List(list) => {
            for element in &list.elements {
                walk(element, bound, found);
            }
        }
        Expr::Map(map) => entries(&map.entries, bound, found),
        Expr::Struct(st) => entries(&st.entries, bound, found),
        Expr::Comprehension(c) => {
            // The range and the initial accumulator are evaluated outside the loop's scope.
            walk(&c.iter_range, bound, found);
            walk(&c.accu_init, bound, found);
            let outer = bound.len();
            bound.push(&c.iter_var);
            if let Some(var) = &c.iter_var2 {
                bound.push(var);
            }
            bound.push(&c.accu_var);
            walk(&c.loop_cond, bound, found);
            walk(&c.loop_step, bound, found);
            walk(&c.result, bound, found);
            bound.truncate(outer);
        }
        Expr::Literal(_) | Expr::Unspecified => {}
    }
}

/// The namespaces of the global functions `env.rs` registers (`strings.quote`,
/// `lists.range`): the parser leaves `strings` as the call's target, and the interpreter
/// resolves it as a function name, unless a comprehension bound that name.
const NAMESPACES: [&str; 2] = ["strings", "lists"];

fn is_namespace(target: &IdedExpr, bound: &[&str]) -> bool {
    matches!(&target.expr, Expr::Ident(name)
        if NAMESPACES.contains(&name.as_str()) && !bound.contains(&name.as_str()))
}

fn entries<'a>(
    entries: &'a [cel_interp::common::ast::IdedEntryExpr],
    bound: &mut Vec<&'a str>,
    found: &mut Vec<String>,
) {
    for entry in entries {
        match &entry.expr {
            EntryExpr::MapEntry(e) => {
                walk(&e.key, bound, found);
                walk(&e.value, bound, found);
            }
            EntryExpr::StructField(f) => walk(&f.value, bound, found),
        }
    }
}
