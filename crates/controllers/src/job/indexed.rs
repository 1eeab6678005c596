//! Indexed Jobs: completion indexes on pods and the compressed interval strings of
//! `status.completedIndexes` / `status.failedIndexes` ("1,3-5").

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Pod;

pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";

/// Parses an interval string, keeping only indexes below `completions`; malformed parts are
/// skipped, as upstream does when it reads back its own status.
pub fn parse(s: &str, completions: i32) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (Ok(a), Ok(b)) = (a.trim().parse::<i32>(), b.trim().parse::<i32>()) else {
            continue;
        };
        for i in a.max(0)..=b.min(completions - 1) {
            out.insert(i);
        }
    }
    out
}

/// Formats indexes as an interval string: runs of 2+ consecutive indexes as `a-b`.
pub fn format(indexes: &BTreeSet<i32>) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = indexes.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

/// The pod's completion index from its annotation (the label is a copy); `None` if absent
/// or not a number.
pub fn pod_index(pod: &Pod) -> Option<i32> {
    pod.metadata
        .annotations
        .as_ref()?
        .get(COMPLETION_INDEX)?
        .parse()
        .ok()
        .filter(|i: &i32| *i >= 0)
}

/// How many earlier pods of the same index have failed (for `backoffLimitPerIndex`).
pub fn pod_failure_count(pod: &Pod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INDEX_FAILURE_COUNT))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_strings() {
        let cases: &[(&[i32], &str)] = &[
            (&[], ""),
            (&[0], "0"),
            (&[0, 1], "0-1"),
            (&[0, 1, 2], "0-2"),
            (&[1, 3, 4, 5], "1,3-5"),
            (&[0, 2, 4, 6, 7], "0,2,4,6-7"),
            (&[5, 6, 7, 9, 10, 20], "5-7,9-10,20"),
        ];
        for (ix, want) in cases {
            let set: BTreeSet<i32> = ix.iter().copied().collect();
            assert_eq!(format(&set), *want);
            assert_eq!(parse(want, 100), set, "{want}");
        }
    }

    #[test]
    fn parse_bounds() {
        let cases: &[(&str, i32, &[i32])] = &[
            ("0-9", 3, &[0, 1, 2]),
            ("1,x,3-a,4", 10, &[1, 4]),
            ("2-1", 10, &[]),
            ("7", 5, &[]),
        ];
        for (s, completions, want) in cases {
            let want: BTreeSet<i32> = want.iter().copied().collect();
            assert_eq!(parse(s, *completions), want, "{s}");
        }
    }
}
