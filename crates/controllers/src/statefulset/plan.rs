//! One sync's steps for a StatefulSet (upstream `updateStatefulSet`), decided from what the
//! pods look like now. In OrderedReady mode a sync takes at most one step and only when every
//! lower ordinal is Running and Ready (and available); Parallel mode creates and deletes
//! freely. Rolling updates always go from the highest ordinal down to the partition, one pod
//! at a time, waiting for the replacement to be healthy.

/// What the planner needs to know about one existing pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Seen {
    pub ordinal: i32,
    pub terminating: bool,
    /// Failed or Succeeded: the pod must be replaced.
    pub finished: bool,
    /// Running with the Ready condition.
    pub ready: bool,
    /// Ready for minReadySeconds.
    pub available: bool,
    /// Labelled with the update revision.
    pub updated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spec {
    pub start: i32,
    pub replicas: i32,
    pub parallel: bool,
    /// `Some(partition)` for RollingUpdate, `None` for OnDelete.
    pub rolling_partition: Option<i32>,
    /// How many pods a rolling update may have down at once (at least 1).
    pub max_unavailable: i32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Create the pod; from the current revision's template when `current`, else the
    /// update revision's.
    Create {
        ordinal: i32,
        current: bool,
    },
    Delete {
        ordinal: i32,
    },
}

impl Spec {
    fn in_range(&self, ordinal: i32) -> bool {
        ordinal >= self.start && ordinal < self.start + self.replicas
    }

    /// Pods below the partition keep the current revision when (re)created.
    fn wants_current(&self, ordinal: i32) -> bool {
        self.rolling_partition
            .is_some_and(|p| ordinal - self.start < p)
    }
}

pub fn plan(spec: &Spec, pods: &[Seen]) -> Vec<Step> {
    let ordered = !spec.parallel;
    let mut steps = Vec::new();
    let slot = |ordinal: i32| pods.iter().find(|p| p.ordinal == ordinal);

    for ordinal in spec.start..spec.start + spec.replicas.max(0) {
        match slot(ordinal) {
            None => {
                steps.push(Step::Create {
                    ordinal,
                    current: spec.wants_current(ordinal),
                });
                if ordered {
                    return steps;
                }
            }
            Some(p) if p.finished && !p.terminating => {
                steps.push(Step::Delete { ordinal });
                if ordered {
                    return steps;
                }
            }
            Some(p) if ordered && (p.terminating || !p.ready || !p.available) => return steps,
            Some(_) => {}
        }
    }

    let mut condemned: Vec<&Seen> = pods.iter().filter(|p| !spec.in_range(p.ordinal)).collect();
    condemned.sort_by_key(|p| std::cmp::Reverse(p.ordinal));
    for p in condemned {
        if p.terminating {
            if ordered {
                return steps;
            }
            continue;
        }
        steps.push(Step::Delete { ordinal: p.ordinal });
        if ordered {
            return steps;
        }
    }

    let Some(partition) = spec.rolling_partition else {
        return steps;
    };
    // Parallel mode may still be creating or replacing pods; a rolling update waits for it.
    if !steps.is_empty() {
        return steps;
    }
    // Upstream's maxUnavailable update (on by default since 1.35): count every pod in
    // range that is missing or not healthy, then delete old pods from the highest ordinal
    // down to the partition until that many are down.
    let end = spec.start + spec.replicas.max(0);
    let healthy = |o: i32| slot(o).is_some_and(|p| !p.terminating && p.ready && p.available);
    let unavailable = (spec.start..end).filter(|o| !healthy(*o)).count();
    let mut room = usize::try_from(spec.max_unavailable.max(1))
        .unwrap_or(1)
        .saturating_sub(unavailable);
    let lowest = spec.start + partition.max(0);
    for ordinal in (lowest..end).rev() {
        if room == 0 {
            break;
        }
        if slot(ordinal).is_some_and(|p| !p.updated && !p.terminating) {
            steps.push(Step::Delete { ordinal });
            room -= 1;
        }
    }
    steps
}

/// `maxUnavailable` as a number of pods: an integer, or a percentage of `replicas` rounded
/// up; never below 1.
pub fn resolve_max_unavailable(value: Option<&str>, replicas: i32) -> i32 {
    let n = match value {
        None => 1,
        Some(v) => match v.strip_suffix('%') {
            Some(pct) => {
                let pct: i64 = pct.parse().unwrap_or(0);
                i32::try_from((pct * i64::from(replicas.max(0)) + 99) / 100).unwrap_or(i32::MAX)
            }
            None => v.parse().unwrap_or(1),
        },
    };
    n.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pods from a compact form: `<ordinal><state>` with state R (ready, updated),
    /// O (ready, old revision), P (pending, not ready), A (ready, not yet available),
    /// T (terminating), F (failed).
    fn pods(s: &str) -> Vec<Seen> {
        s.split_whitespace()
            .map(|tok| {
                let (num, state) = tok.split_at(tok.len() - 1);
                let ordinal = num.parse().expect("ordinal");
                let ready = matches!(state, "R" | "O" | "A");
                Seen {
                    ordinal,
                    terminating: state == "T",
                    finished: state == "F",
                    ready,
                    available: matches!(state, "R" | "O"),
                    updated: state != "O",
                }
            })
            .collect()
    }

    fn show(steps: &[Step]) -> String {
        steps
            .iter()
            .map(|s| match s {
                Step::Create { ordinal, current } => {
                    format!("+{ordinal}{}", if *current { "c" } else { "" })
                }
                Step::Delete { ordinal } => format!("-{ordinal}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn max_unavailable_values() {
        let cases = [
            (None, 5, 1),
            (Some("2"), 5, 2),
            (Some("0"), 5, 1),
            (Some("50%"), 5, 3),
            (Some("10%"), 3, 1),
        ];
        for (v, replicas, want) in cases {
            assert_eq!(
                resolve_max_unavailable(v, replicas),
                want,
                "{v:?} of {replicas}"
            );
        }
    }

    #[test]
    fn steps_table() {
        let ordered = |replicas| Spec {
            start: 0,
            replicas,
            parallel: false,
            rolling_partition: Some(0),
            max_unavailable: 1,
        };
        let parallel = |replicas| Spec {
            parallel: true,
            ..ordered(replicas)
        };
        let cases: Vec<(&str, Spec, &str, &str)> = vec![
            ("first pod", ordered(3), "", "+0"),
            ("waits for web-0 to be ready", ordered(3), "0P", ""),
            ("waits for availability", ordered(3), "0A", ""),
            ("next after ready", ordered(3), "0R", "+1"),
            ("fills a gap", ordered(3), "0R 2R", "+1"),
            ("all up", ordered(3), "0R 1R 2R", ""),
            ("failed pod replaced", ordered(3), "0R 1F 2R", "-1"),
            ("scale down highest first", ordered(1), "0R 1R 2R", "-2"),
            ("one at a time", ordered(1), "0R 1R 2T", ""),
            ("scale down waits for health", ordered(1), "0P 1R 2R", ""),
            ("parallel creates all", parallel(3), "", "+0 +1 +2"),
            ("parallel deletes all", parallel(1), "0P 1R 2R", "-2 -1"),
            ("update from highest", ordered(3), "0O 1O 2O", "-2"),
            ("update waits for replacement", ordered(3), "0O 1O 2P", ""),
            ("update continues down", ordered(3), "0O 1O 2R", "-1"),
            ("update done", ordered(3), "0R 1R 2R", ""),
            (
                "partition keeps low ordinals",
                Spec {
                    rolling_partition: Some(2),
                    ..ordered(3)
                },
                "0O 1O 2R",
                "",
            ),
            (
                "below partition recreated from current",
                Spec {
                    rolling_partition: Some(2),
                    ..ordered(3)
                },
                "1O 2R",
                "+0c",
            ),
            (
                "on delete never deletes",
                Spec {
                    rolling_partition: None,
                    ..ordered(3)
                },
                "0O 1O 2O",
                "",
            ),
            (
                "start ordinal",
                Spec {
                    start: 5,
                    ..ordered(2)
                },
                "5R",
                "+6",
            ),
            (
                "maxUnavailable 2",
                Spec {
                    max_unavailable: 2,
                    ..ordered(3)
                },
                "0O 1O 2O",
                "-2 -1",
            ),
            (
                "maxUnavailable counts pods already down",
                Spec {
                    max_unavailable: 2,
                    parallel: true,
                    ..ordered(3)
                },
                "0O 1O 2P",
                "-1",
            ),
            (
                "maxUnavailable stops at the partition",
                Spec {
                    max_unavailable: 3,
                    rolling_partition: Some(1),
                    ..ordered(3)
                },
                "0O 1O 2O",
                "-2 -1",
            ),
            (
                "start ordinal condemns below",
                Spec {
                    start: 5,
                    ..ordered(2)
                },
                "0R 5R 6R",
                "-0",
            ),
        ];
        for (what, spec, have, want) in cases {
            assert_eq!(show(&plan(&spec, &pods(have))), want, "{what}");
        }
    }
}
