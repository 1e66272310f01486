//! `tt-ha dbconfig enable|insert|show`.

use super::out::{errln, out, outln};
use crate::atomic::{read_regular, replace_if_unchanged};
use crate::dbconfig::{Document, EnableRequest, Role, SiteAddr, enable, find_blocks, insert_block};
use crate::display::path as shown;
use crate::textdiff;
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// `dbconfig` actions.
#[derive(Debug, Subcommand)]
pub enum DbconfigAction {
    /// Uncomment the role's replication block and set its addresses; nothing else changes.
    Enable {
        /// The DB_CONFIG file.
        file: PathBuf,
        /// Which block: master (rep_set_priority 1) or replicant (rep_set_priority 0).
        #[arg(long, value_enum)]
        role: RoleArg,
        /// This server's replication address, HOST:PORT.
        #[arg(long, value_name = "HOST:PORT")]
        local: SiteAddr,
        /// The other site(s), HOST:PORT, once per remote site line of the block.
        #[arg(long, value_name = "HOST:PORT")]
        remote: Vec<SiteAddr>,
        /// Show the diff, write nothing.
        #[arg(long)]
        dry_run: bool,
        /// Comment out the other role's active block instead of refusing.
        #[arg(long)]
        switch: bool,
    },
    /// Append the role's commented block from templates/DB_CONFIG when the file has none.
    Insert {
        /// The DB_CONFIG file.
        file: PathBuf,
        /// Which block.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Show the diff, write nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the replication blocks of a DB_CONFIG with their line numbers and sites.
    Show {
        /// The DB_CONFIG file.
        file: PathBuf,
    },
}

/// `--role` values.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum RoleArg {
    /// rep_set_priority 1
    Master,
    /// rep_set_priority 0
    Replicant,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Master => Role::Master,
            RoleArg::Replicant => Role::Replicant,
        }
    }
}

/// Reads the DB_CONFIG, refusing a symbolic link, a folder or a FIFO (without blocking on it).
fn read(file: &Path) -> anyhow::Result<Vec<u8>> {
    Ok(read_regular(file)?)
}

fn write_reviewed(file: &Path, old: &[u8], new: &Document, dry_run: bool) -> anyhow::Result<()> {
    out!(
        "{}",
        textdiff::unified(&shown(file).to_string(), &Document::parse(old), new)
    );
    if dry_run {
        outln!("dry run: {} not changed", shown(file));
    } else {
        replace_if_unchanged(file, old, &new.render())?;
        outln!("wrote {}", shown(file));
    }
    Ok(())
}

/// Runs a `dbconfig` action.
pub fn run(action: DbconfigAction) -> anyhow::Result<ExitCode> {
    match action {
        DbconfigAction::Enable {
            file,
            role,
            local,
            remote,
            dry_run,
            switch,
        } => {
            let old = read(&file)?;
            let req = EnableRequest {
                role: role.into(),
                local,
                remotes: remote,
                switch,
            };
            let done = enable(&old, &req).map_err(|e| anyhow::anyhow!("{}: {e}", shown(&file)))?;
            for w in &done.warnings {
                errln!("warning: {w}");
            }
            if !done.changed {
                outln!(
                    "{}: the {} block (line {}) is already enabled with these addresses: nothing to change",
                    shown(&file),
                    req.role,
                    done.block.line_no()
                );
                return Ok(ExitCode::SUCCESS);
            }
            write_reviewed(&file, &old, &done.document, dry_run)?;
        }
        DbconfigAction::Insert {
            file,
            role,
            dry_run,
        } => {
            let old = read(&file)?;
            let new = insert_block(&old, role.into())
                .map_err(|e| anyhow::anyhow!("{}: {e}", shown(&file)))?;
            write_reviewed(&file, &old, &new, dry_run)?;
        }
        DbconfigAction::Show { file } => {
            let bytes = read(&file)?;
            crate::dbconfig::check_encoding(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", shown(&file)))?;
            let doc = Document::parse(&bytes);
            let blocks = find_blocks(&doc);
            if blocks.is_empty() {
                outln!("{}: no replication blocks", shown(&file));
            }
            for b in blocks {
                outln!(
                    "line {}: {} block ({}, {} {})",
                    b.line_no(),
                    b.role,
                    if b.active { "active" } else { "commented" },
                    b.priority_spelling,
                    b.priority
                );
                for s in &b.sites {
                    outln!(
                        "  line {}: {:?} site {} {}",
                        s.line + 1,
                        s.kind,
                        s.host,
                        s.port
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
