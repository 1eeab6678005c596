//! The Kubernetes list functions CRD authors use that cel-go's lists extension (and so
//! cel-rust's) lacks: `isSorted()`, `sum()`, `min()` and `max()`.

use cel_interp::common::types::{CelBool, CelInt, LIST_TYPE};
use cel_interp::common::value::{CowVal, Val};
use cel_interp::{DeclarationError, Env, ExecutionError};
use std::cmp::Ordering;

/// Registers the functions as member overloads on `list`.
pub(crate) fn extension(env: &mut Env) -> Result<(), DeclarationError> {
    env.add_member_overload("isSorted", "list.isSorted()", LIST_TYPE, vec![], is_sorted)?;
    env.add_member_overload("sum", "list.sum()", LIST_TYPE, vec![], sum)?;
    env.add_member_overload("min", "list.min()", LIST_TYPE, vec![], min)?;
    env.add_member_overload("max", "list.max()", LIST_TYPE, vec![], max)?;
    Ok(())
}

/// Whether each element is at least the one before it.
fn is_sorted<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let list = receiver(args)?;
    let items = elements(list.as_ref(), "isSorted")?;
    for pair in items.windows(2) {
        if compare(pair[0], pair[1], "isSorted")? == Ordering::Greater {
            return Ok(CowVal::owned(CelBool::from(false)));
        }
    }
    Ok(CowVal::owned(CelBool::from(true)))
}

/// The sum of the elements with CEL's `+`, so ints overflow-check and mixed types fail
/// as they would written out; an empty list sums to int 0.
fn sum<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let list = receiver(args)?;
    let items = elements(list.as_ref(), "sum")?;
    let Some((first, rest)) = items.split_first() else {
        return Ok(CowVal::owned(CelInt::from(0)));
    };
    let mut total: Box<dyn Val + 'v> = first.clone_as_boxed();
    for item in rest {
        let adder = total.as_adder().ok_or_else(|| {
            ExecutionError::function_error("sum", format!("cannot add {}", type_name(*item)))
        })?;
        let next = adder.add(*item)?.into_owned();
        total = next;
    }
    Ok(CowVal::Owned(total))
}

fn min<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme(args, "min", Ordering::Less)
}

fn max<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    extreme(args, "max", Ordering::Greater)
}

/// The first element no other one beats in direction `wins`; an empty list is an error
/// because there is no value of the element type to return.
fn extreme<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    function: &str,
    wins: Ordering,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let list = receiver(args)?;
    let items = elements(list.as_ref(), function)?;
    let Some((first, rest)) = items.split_first() else {
        return Err(ExecutionError::function_error(
            function,
            "called on an empty list",
        ));
    };
    let mut best = *first;
    for item in rest {
        if compare(*item, best, function)? == wins {
            best = *item;
        }
    }
    // The winner lives in the argument list, which this function owns and drops.
    Ok(CowVal::Owned(best.clone_as_boxed()))
}

/// The single receiver of a member function that takes no arguments.
fn receiver<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let count = args.len();
    let mut args = args.into_iter();
    match (args.next(), args.next()) {
        (Some(list), None) => Ok(list),
        _ => Err(ExecutionError::invalid_argument_count(1, count)),
    }
}

fn elements<'a, 'v>(
    list: &'a (dyn Val + 'v),
    function: &str,
) -> Result<Vec<&'a (dyn Val + 'v)>, ExecutionError> {
    let iterable = list.as_iterable().ok_or_else(|| {
        ExecutionError::function_error(function, format!("not a list: {}", type_name(list)))
    })?;
    let mut iter = iterable.iter();
    let mut items = Vec::new();
    while let Some(item) = iter.next() {
        items.push(item);
    }
    Ok(items)
}

fn compare(a: &dyn Val, b: &dyn Val, function: &str) -> Result<Ordering, ExecutionError> {
    let comparer = a.as_comparer().ok_or_else(|| {
        ExecutionError::function_error(
            function,
            format!("elements of type {} are not ordered", type_name(a)),
        )
    })?;
    comparer.compare(b).map_err(|_| {
        ExecutionError::function_error(
            function,
            format!("cannot compare {} with {}", type_name(a), type_name(b)),
        )
    })
}

fn type_name(value: &dyn Val) -> String {
    value.get_type().name().to_owned()
}
