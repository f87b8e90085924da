//! Regression files: the failing seeds exploration found for a scenario, kept beside it with
//! the settings they failed under, and tried first the next time.

use super::Failure;
use nspsim_runtime::sim::faults::InjectedFaultKind;
use nspsim_runtime::sim::strategy::StrategyName;

/// The regression file of a scenario: failing seeds found before, tried first next time.
pub fn regression_path(scenario_path: &std::path::Path) -> std::path::PathBuf {
    let name = scenario_path
        .file_name()
        .map_or_else(|| "scenario".into(), |n| n.to_string_lossy().into_owned());
    scenario_path.with_file_name(format!("{name}.regressions"))
}

/// Fault kinds as the command line writes them: `none`, or names joined by commas.
pub fn fault_names(kinds: &[InjectedFaultKind]) -> String {
    if kinds.is_empty() {
        return "none".to_string();
    }
    kinds.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

/// A failing seed kept in a regression file, with the settings it failed under (a line
/// written before they were kept has only the seed: the current settings apply).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regression {
    pub seed: u64,
    pub strategy: Option<StrategyName>,
    /// The fault kinds the seed could switch on (its plan is drawn from them).
    pub faults: Option<Vec<InjectedFaultKind>>,
    pub max_steps: Option<u64>,
}

/// The failing seeds of a regression file: `seed N [strategy=S] [faults=K,…|none]
/// [max-steps=M]` lines, `#` comments; lines it cannot read are skipped.
pub fn read_regressions(path: &std::path::Path) -> Vec<Regression> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let line = l.split('#').next()?.trim();
            let mut words = line.strip_prefix("seed ")?.split_whitespace();
            let mut r = Regression {
                seed: words.next()?.parse().ok()?,
                strategy: None,
                faults: None,
                max_steps: None,
            };
            for w in words {
                match w.split_once('=')? {
                    ("strategy", v) => r.strategy = Some(v.parse().ok()?),
                    ("faults", "none") => r.faults = Some(Vec::new()),
                    ("faults", v) => {
                        r.faults = Some(
                            v.split(',')
                                .map(InjectedFaultKind::from_name)
                                .collect::<Option<Vec<_>>>()?,
                        );
                    }
                    ("max-steps", v) => r.max_steps = Some(v.parse().ok()?),
                    _ => return None,
                }
            }
            Some(r)
        })
        .collect()
}

/// Appends a failing seed to the regression file (once per seed), with the settings that
/// make it fail again: its strategy, the fault kinds it could draw from, the step limit.
pub fn record_regression(
    path: &std::path::Path,
    failure: &Failure,
    allowed: &[InjectedFaultKind],
    max_steps: u64,
) -> std::io::Result<()> {
    if read_regressions(path)
        .iter()
        .any(|r| r.seed == failure.seed)
    {
        return Ok(());
    }
    use std::io::Write;
    let fresh = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    if fresh {
        writeln!(
            f,
            "# Seeds nspsim explore found failing; it tries them first. Keep this file in version control."
        )?;
    }
    writeln!(
        f,
        "seed {} strategy={} faults={} max-steps={max_steps} # {} with {}",
        failure.seed,
        failure.strategy.name(),
        fault_names(allowed),
        failure.signature,
        failure.plan
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nspsim_runtime::sim::faults::FaultPlan;

    #[test]
    fn regression_lines_keep_the_settings_a_seed_failed_under() {
        let dir = std::env::temp_dir().join(format!("nspsim-regressions-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("s.toml.regressions");
        let _ = std::fs::remove_file(&path);
        let failure = Failure {
            seed: 7,
            signature: "P4".into(),
            detail: String::new(),
            plan: FaultPlan::none(),
            strategy: StrategyName::Pct,
            events: 3,
        };
        record_regression(
            &path,
            &failure,
            &[InjectedFaultKind::Crash, InjectedFaultKind::Kill],
            500,
        )
        .expect("write");
        record_regression(&path, &failure, &[], 9).expect("a seed is kept once");
        std::fs::write(
            &path,
            std::fs::read_to_string(&path).expect("read") + "seed 9\nseed x\nseed 4 color=red\n",
        )
        .expect("append");
        assert_eq!(
            read_regressions(&path),
            vec![
                Regression {
                    seed: 7,
                    strategy: Some(StrategyName::Pct),
                    faults: Some(vec![InjectedFaultKind::Crash, InjectedFaultKind::Kill]),
                    max_steps: Some(500),
                },
                Regression {
                    seed: 9,
                    strategy: None,
                    faults: None,
                    max_steps: None,
                },
            ]
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
