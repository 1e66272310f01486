//! `tt-ha agent --stdio`: this machine as a remote node, serving a controller over
//! stdin/stdout (started by sshd, usually as the forced command of a dedicated key).

use std::path::Path;
use std::process::ExitCode;

/// Where the node file is looked for when `--node-config` is not given.
pub fn default_node_config() -> &'static str {
    if cfg!(windows) {
        r"C:\ProgramData\tt-ha\node.toml"
    } else {
        "/etc/tt-ha/node.toml"
    }
}

/// Serves one session. Without `--stdio` there is nothing to serve: the agent is never a
/// listening daemon (sshd is the only way in).
pub fn run(stdio: bool, node_config: &Path) -> anyhow::Result<ExitCode> {
    if !stdio {
        anyhow::bail!(
            "`tt-ha agent` serves a controller over its stdin and stdout only: run it as `tt-ha agent --stdio` (sshd starts it; see the README, \"Remote nodes\")"
        );
    }
    let cfg = crate::config::load_agent(node_config).map_err(|e| {
        anyhow::anyhow!("{e} (the node file of `tt-ha agent --stdio --node-config FILE`)")
    })?;
    // Confinement: no read by this process follows a link out of the node's folders.
    crate::fsinfo::refuse_links();
    let agent = crate::agent::serve::Agent::new(cfg, Box::new(std::io::stderr()));
    agent.serve(
        std::io::stdin(),
        std::io::stdout(),
        crate::agent::serve::Timing::default(),
    )?;
    Ok(ExitCode::SUCCESS)
}
