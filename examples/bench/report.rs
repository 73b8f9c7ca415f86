//! The results, as Markdown tables that BENCHMARKS.md can quote as they are.

use std::fmt::Write as _;

/// One compared measure at one size.
pub struct Row {
    /// What haven-migrate ran, e.g. `upgrade head`.
    pub measure: &'static str,
    /// What it is compared with, e.g. `psql -f`.
    pub baseline: &'static str,
    /// The number of migrations.
    pub n: usize,
    /// Median time of haven-migrate, in ms.
    pub ours_ms: f64,
    /// Median time of the baseline, in ms.
    pub theirs_ms: f64,
    /// Median of the per-round ratios.
    pub ratio: f64,
    /// First and third quartiles of the per-round ratios.
    pub quartiles: (f64, f64),
    /// The bound on the ratio, if it sets one at this size.
    pub target: Option<f64>,
}

/// Peak memory of one command at one size.
pub struct Memory {
    /// The number of migrations.
    pub n: usize,
    /// Peak RSS in KiB (the largest over the runs).
    pub kib: u64,
    /// How it was measured.
    pub method: &'static str,
    /// The bound in MiB, if any.
    pub target_mib: Option<f64>,
}

/// Renders every table.
pub fn render(rows: &[Row], memory: &[Memory]) -> String {
    let mut out = String::new();
    out.push_str(
        "| measure | N | haven-migrate | baseline | median ratio | quartiles | target | met |\n",
    );
    out.push_str("|---|---:|---:|---|---:|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            out,
            "| `{}` / {} | {} | {:.1} ms | {:.1} ms | {:.3} | {:.3}-{:.3} | {} | {} |",
            r.measure,
            r.baseline,
            r.n,
            r.ours_ms,
            r.theirs_ms,
            r.ratio,
            r.quartiles.0,
            r.quartiles.1,
            r.target.map_or("-".into(), |t| format!("<= {t}")),
            verdict(r.target.map(|t| r.ratio <= t)),
        );
    }
    for m in memory {
        let mib = m.kib as f64 / 1024.0;
        let _ = writeln!(
            out,
            "| peak RSS of `upgrade head` ({}) | {} | {mib:.1} MiB | - | - | - | {} | {} |",
            m.method,
            m.n,
            m.target_mib.map_or("-".into(), |t| format!("<= {t} MiB")),
            verdict(m.target_mib.map(|t| mib <= t)),
        );
    }
    out.push_str(&scaling(rows));
    out
}

fn verdict(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "yes",
        Some(false) => "**NO**",
        None => "-",
    }
}

/// Each ratio at the largest size over the same ratio at the smallest one.
fn scaling(rows: &[Row]) -> String {
    let mut out =
        String::from("\n| ratio | smallest N | largest N | growth |\n|---|---:|---:|---:|\n");
    let mut seen = Vec::new();
    for r in rows {
        let key = (r.measure, r.baseline);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let same: Vec<&Row> = rows
            .iter()
            .filter(|x| (x.measure, x.baseline) == key)
            .collect();
        let (Some(small), Some(large)) = (
            same.iter().min_by_key(|x| x.n),
            same.iter().max_by_key(|x| x.n),
        ) else {
            continue;
        };
        if small.n == large.n {
            continue;
        }
        let _ = writeln!(
            out,
            "| `{}` / {} | {:.3} (N={}) | {:.3} (N={}) | {:.2}x |",
            r.measure,
            r.baseline,
            small.ratio,
            small.n,
            large.ratio,
            large.n,
            large.ratio / small.ratio
        );
    }
    out
}
