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
/// [max-steps=M]` lines, `#` comments; lines it cannot read are skipped (see
/// [`read_regressions_checked`] for which and why).
pub fn read_regressions(path: &std::path::Path) -> Vec<Regression> {
    read_regressions_checked(path).0
}

/// The most bytes of a regression file read; the rest is ignored (and said so).
const MAX_REGRESSION_BYTES: u64 = 1024 * 1024;

/// [`read_regressions`], with the lines it skipped: (1-based line number, why). A line that
/// does not parse, names an unknown setting, or holds one that makes no sense (`max-steps=0`)
/// is never acted on.
pub fn read_regressions_checked(path: &std::path::Path) -> (Vec<Regression>, Vec<(usize, String)>) {
    use std::io::Read;
    let mut text = String::new();
    let Ok(file) = std::fs::File::open(path) else {
        return (Vec::new(), Vec::new());
    };
    let mut bad = Vec::new();
    let mut bytes = Vec::new();
    if file
        .take(MAX_REGRESSION_BYTES + 1)
        .read_to_end(&mut bytes)
        .is_err()
    {
        bad.push((0, "cannot be read".to_string()));
        return (Vec::new(), bad);
    }
    if bytes.len() as u64 > MAX_REGRESSION_BYTES {
        bytes.truncate(MAX_REGRESSION_BYTES as usize);
        bad.push((
            0,
            format!("longer than {MAX_REGRESSION_BYTES} bytes; the rest is ignored"),
        ));
    }
    text.push_str(&String::from_utf8_lossy(&bytes));
    let mut kept = Vec::new();
    for (i, l) in text.lines().enumerate() {
        let line = l.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line) {
            Ok(r) => kept.push(r),
            Err(why) => bad.push((i + 1, why)),
        }
    }
    (kept, bad)
}

/// One `seed N key=value…` line.
fn parse_line(line: &str) -> Result<Regression, String> {
    let rest = line
        .strip_prefix("seed ")
        .ok_or_else(|| format!("\"{line}\" is not of the form `seed N [key=value…]`"))?;
    let mut words = rest.split_whitespace();
    let seed = words.next().unwrap_or("");
    let mut r = Regression {
        seed: seed
            .parse()
            .map_err(|_| format!("\"{seed}\" is not a seed (a whole number)"))?,
        strategy: None,
        faults: None,
        max_steps: None,
    };
    for w in words {
        match w.split_once('=') {
            Some(("strategy", v)) => {
                r.strategy = Some(v.parse().map_err(|_| format!("unknown strategy \"{v}\""))?);
            }
            Some(("faults", "none")) => r.faults = Some(Vec::new()),
            Some(("faults", "all")) => r.faults = Some(InjectedFaultKind::ALL.to_vec()),
            Some(("faults", v)) => {
                r.faults = Some(
                    v.split(',')
                        .map(|k| {
                            InjectedFaultKind::from_name(k)
                                .ok_or_else(|| format!("unknown fault kind \"{k}\""))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                );
            }
            Some(("max-steps", v)) => match v.parse::<u64>() {
                Ok(0) => return Err("max-steps=0 allows no step at all".to_string()),
                Ok(n) => r.max_steps = Some(n),
                Err(_) => return Err(format!("max-steps=\"{v}\" is not a whole number")),
            },
            _ => return Err(format!("unknown setting \"{w}\"")),
        }
    }
    Ok(r)
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
            max_steps: 500,
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
            std::fs::read_to_string(&path).expect("read")
                + "seed 9\nseed x\nseed 4 color=red\nseed 5 max-steps=0\n",
        )
        .expect("append");
        let (_, bad) = read_regressions_checked(&path);
        let lines: Vec<usize> = bad.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![4, 5, 6], "{bad:?}");
        assert!(bad[2].1.contains("max-steps=0"), "{bad:?}");
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
