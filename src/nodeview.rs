//! What the planner reads of one node's live state: its home, its DB_CONFIG and the replication
//! port that follows from both and from tt-ha.toml. Read once, used by preflight and plan.

use crate::config::{DEFAULT_REPLICATION_PORT, Node};
use crate::dbconfig::{Document, Role, check_encoding, find_blocks};
use crate::dbhome::{Home, HomeError};
use std::path::PathBuf;

/// Where a node's replication port came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortSource {
    /// `replication_port` in tt-ha.toml.
    Config,
    /// The local site line of the role's block in DB_CONFIG (1-based line).
    DbConfig(usize),
    /// Neither says: the vendor's default.
    Default,
}

impl std::fmt::Display for PortSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PortSource::Config => f.write_str("from tt-ha.toml"),
            PortSource::DbConfig(l) => write!(f, "from DB_CONFIG line {l}"),
            PortSource::Default => write!(f, "vendor default {DEFAULT_REPLICATION_PORT}"),
        }
    }
}

/// One node as the planner sees it.
#[derive(Debug)]
pub struct NodeView<'a> {
    /// The role this node is to take.
    pub role: Role,
    /// Its configuration.
    pub cfg: &'a Node,
    /// Its home, or why it is refused.
    pub home: Result<Home, HomeError>,
    /// DB_CONFIG's bytes, or why they could not be read.
    pub dbconfig: Result<Vec<u8>, String>,
    /// The replication port to use.
    pub repl_port: u16,
    /// Where it came from.
    pub repl_port_source: PortSource,
}

impl<'a> NodeView<'a> {
    /// Reads the node's live state. Never fails: problems are kept for the findings.
    pub fn read(role: Role, cfg: &'a Node) -> NodeView<'a> {
        let home = Home::open_reused(&cfg.home, &cfg.message_file);
        let path = cfg.db_config_path();
        let dbconfig = crate::atomic::read_regular(&path).map_err(|e| e.to_string());
        let (repl_port, repl_port_source) = match (cfg.replication_port, &dbconfig) {
            (Some(p), _) => (p.0, PortSource::Config),
            (None, Ok(bytes)) => port_from_dbconfig(bytes, role)
                .map(|(p, l)| (p, PortSource::DbConfig(l)))
                .unwrap_or((DEFAULT_REPLICATION_PORT, PortSource::Default)),
            (None, Err(_)) => (DEFAULT_REPLICATION_PORT, PortSource::Default),
        };
        NodeView {
            role,
            cfg,
            home,
            dbconfig,
            repl_port,
            repl_port_source,
        }
    }

    /// The DB_CONFIG path.
    pub fn dbconfig_path(&self) -> PathBuf {
        self.cfg.db_config_path()
    }
}

/// The port on the local site line of `role`'s block, with its 1-based line number.
pub fn port_from_dbconfig(bytes: &[u8], role: Role) -> Option<(u16, usize)> {
    check_encoding(bytes).ok()?;
    let doc = Document::parse(bytes);
    let blocks = find_blocks(&doc);
    let block = blocks
        .iter()
        .find(|b| b.role == role && b.active)
        .or_else(|| blocks.iter().find(|b| b.role == role))?;
    let site = block.local_sites().next()?;
    Some((site.port.parse().ok().filter(|p| *p != 0)?, site.line + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_comes_from_the_roles_local_site() {
        let t = b"#rep_set_priority 1\n#repmgr_site a 5111 db_local_site on\n\n#rep_set_priority 0\n#repmgr_site b 5222 db_local_site on\n";
        assert_eq!(port_from_dbconfig(t, Role::Master), Some((5111, 2)));
        assert_eq!(port_from_dbconfig(t, Role::Replicant), Some((5222, 5)));
        assert_eq!(port_from_dbconfig(b"", Role::Master), None);
        assert_eq!(
            port_from_dbconfig(
                b"#rep_set_priority 1\n#repmgr_site a x db_local_site on\n",
                Role::Master
            ),
            None
        );
    }
}
