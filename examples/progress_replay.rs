//! Replays a replicant's message file at its own stamps and measures the initial copy's percent
//! and time left against the copy's real end (used by `testbed/bench-progress.sh`).
//!
//! `cargo run --example progress_replay -- MESSAGE_FILE [SIZES]` where SIZES is the master's
//! home (its database files are read) or a file of `name bytes` lines. Prints one line per
//! moment, then a summary line starting `summary`.

use std::collections::BTreeMap;
use std::path::Path;
use tt_ha::monitor::progress::{database_sizes, eta_ok, replay};

fn sizes(arg: Option<&String>) -> Result<BTreeMap<String, u64>, String> {
    let Some(arg) = arg else {
        return Ok(BTreeMap::new());
    };
    let p = Path::new(arg);
    if p.is_dir() {
        return database_sizes(p).map_err(|e| format!("{arg}: {e}"));
    }
    let text = std::fs::read_to_string(p).map_err(|e| format!("{arg}: {e}"))?;
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let mut it = line.split_whitespace();
        match (it.next(), it.next().map(str::parse::<u64>)) {
            (Some(name), Some(Ok(bytes))) => {
                out.insert(name.to_string(), bytes);
            }
            (None, _) => {}
            _ => return Err(format!("{arg}:{}: expected `name bytes`", i + 1)),
        }
    }
    Ok(out)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(file) = args.first() else {
        eprintln!("usage: progress_replay MESSAGE_FILE [MASTER_HOME | SIZES_FILE]");
        std::process::exit(2);
    };
    let bytes = match std::fs::read(file) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{file}: {e}");
            std::process::exit(1);
        }
    };
    let expected = match sizes(args.get(1)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let r = replay(&String::from_utf8_lossy(&bytes), &expected, "$DB_Msg.txt");
    let mut errors = Vec::new();
    let (mut bad, mut back, mut prev) = (0, 0, 0.0f64);
    for s in &r.shown {
        let eta = s.eta.map(|e| format!("{e:.2}")).unwrap_or("-".into());
        let pct = s.percent.map(|p| format!("{p:.1}")).unwrap_or("-".into());
        let judged = s.at >= 0.1 * r.duration;
        let ok = match s.eta {
            Some(e) if judged => {
                errors.push(((e - s.left) / s.left.max(1e-9), e - s.left, s.left));
                eta_ok(e, s.left)
            }
            None if judged => false,
            _ => true,
        };
        bad += usize::from(!ok);
        if let Some(p) = s.percent {
            back += usize::from(p < prev);
            prev = prev.max(p);
        }
        println!(
            "t={:7.2} left={:7.2} pct={pct:>5} eta={eta:>7} {} {}",
            s.at,
            s.left,
            if ok { "ok " } else { "BAD" },
            s.verdict
        );
    }
    // Relative error where 5 s or more were left, absolute error (s) where less (the bar's
    // two halves).
    let mut rel: Vec<f64> = errors
        .iter()
        .filter(|e| e.2 >= 5.0)
        .map(|e| e.0.abs())
        .collect();
    let mut abs: Vec<f64> = errors
        .iter()
        .filter(|e| e.2 < 5.0)
        .map(|e| e.1.abs())
        .collect();
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(f64::total_cmp);
        v.get(((v.len() as f64 * p).ceil() as usize).saturating_sub(1))
            .copied()
            .unwrap_or(0.0)
    };
    let diag = r
        .shown
        .iter()
        .filter(|s| !matches!(s.verdict_name, "connecting" | "syncing"))
        .count();
    println!(
        "summary duration={:.2}s judged={} outside_bar={bad} percent_backwards={back} false_diagnoses={diag} rel_err(>=5s left, n={}) median={:.1}% p90={:.1}% max={:.1}% abs_err(<5s left, n={}) median={:.2}s p90={:.2}s max={:.2}s",
        r.duration,
        errors.len(),
        rel.len(),
        100.0 * q(&mut rel, 0.5),
        100.0 * q(&mut rel, 0.9),
        100.0 * q(&mut rel, 1.0),
        abs.len(),
        q(&mut abs, 0.5),
        q(&mut abs, 0.9),
        q(&mut abs, 1.0),
    );
}
