//! The `tt-ha` command: a thin front-end over the library's engine.

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    // clap's own messages quote what was typed: shown through the one escaping rule, so an
    // argument holding escape sequences never reaches the terminal raw.
    // Plain styles and no colour: clap's rendering is then the plain text with what was typed
    // kept as typed (its `to_string` would silently drop escape sequences from an argument),
    // and the one escaping rule shows those escaped.
    let parsed = tt_ha::cli::Cli::command()
        .styles(clap::builder::Styles::plain())
        .color(clap::ColorChoice::Never)
        .try_get_matches()
        .and_then(|m| tt_ha::cli::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let text = e.render().ansi().to_string();
            let shown = tt_ha::display::text(&text);
            match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    tt_ha::cli::out::print(&shown)
                }
                _ => tt_ha::cli::out::eprint(&shown),
            }
            // `check` answers in monitoring-plugin terms even when its arguments are wrong:
            // clap's exit 2 would read as CRITICAL. UNKNOWN (3), with a first line saying so.
            let usage = !matches!(
                e.kind(),
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion
            );
            if usage && tt_ha::cli::is_check(std::env::args_os()) {
                let first = shown
                    .lines()
                    .next()
                    .unwrap_or("")
                    .trim_start_matches("error: ");
                tt_ha::cli::out::print(&format!("TT-HA UNKNOWN - bad arguments: {first}\n"));
                return ExitCode::from(3);
            }
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    match tt_ha::cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // Through the CLI's writer: escaped, and no panic when stderr is closed.
            tt_ha::cli::out::eprint(&format!("error: {e:#}\n"));
            ExitCode::from(1)
        }
    }
}
