//! `tt-ha plan`: the preflight table and the ordered steps with their effects.

use super::out::{self, out};
use crate::config;
use crate::plan::{Plan, Words, build};
use crate::preflight::Status;
use crate::procedure::POINT_OF_NO_RETURN;
use std::fmt::Write;
use std::path::Path;
use std::process::ExitCode;

/// Paths are shown escaped: they may hold any bytes.
use crate::display::path as shown;

/// Runs `plan`: exit 0 when preflight passes, 1 when a check fails (the plan is printed anyway).
pub fn run(config_path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let cfg = config::load(config_path)?;
    let plan = build(&cfg);
    if json {
        out::json_pretty(&plan)?;
    } else {
        out!("{}", render(&plan, config_path));
    }
    Ok(if plan.ready {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok",
        Status::Warn => "WARN",
        Status::Fail => "FAIL",
    }
}

/// The plan as text for people.
pub fn render(plan: &Plan, config_path: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "tt-ha plan (config {}), run id if applied now: {}",
        shown(config_path),
        plan.run_id
    );
    let _ = writeln!(out, "\nPreflight");
    let w = |f: fn(&crate::preflight::Finding) -> usize| {
        plan.preflight.iter().map(f).max().unwrap_or(0)
    };
    let (wc, wn, wcur) = (
        w(|f| f.check.len()),
        w(|f| f.node.as_deref().unwrap_or("both").len()),
        w(|f| f.current.len()).min(60),
    );
    for f in &plan.preflight {
        let _ = writeln!(
            out,
            "  {:<4}  {:<wn$}  {:<wc$}  {:<wcur$}  required: {}",
            status_word(f.status),
            f.node.as_deref().unwrap_or("both"),
            f.check,
            f.current,
            f.required
        );
        if !f.note.is_empty() {
            let _ = writeln!(out, "        {}", f.note);
        }
        if let Some(d) = &f.fix_diff {
            for l in d.lines() {
                let _ = writeln!(out, "        | {l}");
            }
        }
    }
    let _ = writeln!(out, "\nSteps");
    for (i, s) in plan.steps.iter().enumerate() {
        let mark = if s.id == POINT_OF_NO_RETURN {
            "  << point of no return: from here the servers change"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "{:>3}. {} [{}] {}{mark}",
            i + 1,
            s.id,
            crate::procedure::node_str(s.node),
            s.title
        );
        if let Some(b) = &s.blocked {
            let _ = writeln!(out, "       BLOCKED: {b}");
        }
        if let Some(n) = &s.note {
            let _ = writeln!(out, "       note: {n}");
        }
        if let Some(m) = crate::plan::moves_summary(&s.effects) {
            let _ = writeln!(out, "       {m}:");
        }
        for e in &s.effects {
            match e.words() {
                Words::Entry { name, class, size } => {
                    let _ = writeln!(out, "       - {size:>10}  {class:<12} {name}");
                }
                Words::Edit {
                    heading,
                    diff,
                    warnings,
                } => {
                    let _ = writeln!(out, "       - {heading}");
                    for l in diff.lines() {
                        let _ = writeln!(out, "         | {l}");
                    }
                    for w in warnings {
                        let _ = writeln!(out, "         warning: {w}");
                    }
                }
                Words::Line(l) => {
                    let _ = writeln!(out, "       - {l}");
                }
            }
        }
    }
    if !plan.ready {
        let _ = writeln!(
            out,
            "\nNot ready: fix the FAIL rows above, then run `tt-ha plan` again."
        );
    }
    out
}
