//! `cargo xtask bench`: runs the criterion benchmarks and prints each group's figures as
//! ratios against the group's `baseline` benchmark from the same run.
//!
//! Criterion writes `target/criterion/<group>/<bench>/new/estimates.json`; the summary reads
//! the median point estimate from there.

use std::fs;
use std::path::Path;

use anyhow::Context;

use crate::run::{cargo, root, step};

/// `args` before a `--` go to `cargo bench` (e.g. `--bench engine`), the rest to criterion
/// (e.g. a name filter).
pub(crate) fn run(args: &[String]) -> anyhow::Result<()> {
    let (cargo_args, criterion_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let mut cmd = cargo();
    cmd.args(["bench", "-p", "pn-benches", "--locked"])
        .args(cargo_args);
    if !criterion_args.is_empty() {
        cmd.arg("--").args(criterion_args);
    }
    step("benchmarks", &mut cmd)?;
    summary(&target_dir().join("criterion"))
}

fn target_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(Into::into)
        .unwrap_or_else(|| root().join("target"))
}

/// Prints `group / bench: median, ratio to baseline` for every group criterion wrote.
fn summary(dir: &Path) -> anyhow::Result<()> {
    let Ok(groups) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut lines = Vec::new();
    let mut groups: Vec<_> = groups.flatten().map(|e| e.path()).collect();
    groups.sort();
    for group in groups
        .iter()
        .filter(|p| p.is_dir() && !p.ends_with("report"))
    {
        let mut benches: Vec<_> = fs::read_dir(group)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.join("new/estimates.json").exists())
            .collect();
        benches.sort();
        let median = |p: &Path| -> anyhow::Result<f64> {
            let text = fs::read_to_string(p.join("new/estimates.json"))
                .with_context(|| format!("reading {}", p.display()))?;
            median_ns(&text).with_context(|| format!("no median in {}", p.display()))
        };
        let baseline = benches
            .iter()
            .find(|p| p.file_name().is_some_and(|n| n == "baseline"))
            .map(|p| median(p))
            .transpose()?;
        for b in &benches {
            let ns = median(b)?;
            let name = format!(
                "{}/{}",
                group.file_name().unwrap_or_default().to_string_lossy(),
                b.file_name().unwrap_or_default().to_string_lossy()
            );
            let ratio = baseline
                .map(|base| format!("{:>8.2}x baseline", ns / base))
                .unwrap_or_default();
            lines.push(format!("{name:<60} {:>12} {ratio}", human(ns)));
        }
    }
    #[allow(clippy::print_stdout)]
    {
        println!("\nmedians (criterion point estimates):");
        for l in lines {
            println!("{l}");
        }
    }
    Ok(())
}

/// The median's point estimate from criterion's `estimates.json`.
fn median_ns(json: &str) -> Option<f64> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("median")?.get("point_estimate")?.as_f64()
}

fn human(ns: f64) -> String {
    if ns < 1_000.0 {
        format!("{ns:.1} ns")
    } else if ns < 1_000_000.0 {
        format!("{:.2} µs", ns / 1_000.0)
    } else {
        format!("{:.2} ms", ns / 1_000_000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_median_point_estimate() {
        let json = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1.5,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":2.0},"point_estimate":1234.5,"standard_error":0.1}}"#;
        assert_eq!(median_ns(json), Some(1234.5));
        assert_eq!(median_ns("{}"), None);
    }

    #[test]
    fn human_units() {
        assert_eq!(human(12.0), "12.0 ns");
        assert_eq!(human(1500.0), "1.50 µs");
        assert_eq!(human(2_500_000.0), "2.50 ms");
    }
}
