//! What the planner reads of one node's live state: its home, its DB_CONFIG and the replication
//! port that follows from both and from tt-ha.toml. Read once, used by preflight and plan.

use crate::config::{DEFAULT_REPLICATION_PORT, Node};
use crate::dbconfig::{Document, Role, SiteLine, check_encoding, find_blocks};
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

/// How a [`NodeView`] reaches its node.
pub enum Access<'a> {
    /// A node on this machine, made from its settings ([`NodeView::read`]).
    Owned(Box<crate::node::LocalNode>),
    /// A node the caller reaches ([`NodeView::of`]).
    Borrowed(&'a dyn crate::node::NodeAccess),
}

impl Access<'_> {
    /// The node.
    pub fn get(&self) -> &dyn crate::node::NodeAccess {
        match self {
            Access::Owned(n) => n.as_ref(),
            Access::Borrowed(n) => *n,
        }
    }
}

impl std::fmt::Debug for Access<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {}", self.get().config().name)
    }
}

/// One node as the planner sees it.
#[derive(Debug)]
pub struct NodeView<'a> {
    /// How the node is reached (for the checks that ask it more).
    pub access: Access<'a>,
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
        let access = Access::Owned(Box::new(crate::node::LocalNode::new(cfg.clone(), role)));
        Self::from_parts(access, role, cfg, home, dbconfig)
    }

    /// Reads the live state of `node` through the node interface (never fails, as [`Self::read`]).
    pub fn of(node: &'a dyn crate::node::NodeAccess) -> NodeView<'a> {
        let cfg = node.config();
        let home = node.list_home_reused();
        let dbconfig = node
            .home()
            .join("DB_CONFIG")
            .map_err(|e| e.to_string())
            .and_then(|p| node.read_file(&p).map_err(|e| e.to_string()));
        Self::from_parts(Access::Borrowed(node), node.role(), cfg, home, dbconfig)
    }

    fn from_parts(
        access: Access<'a>,
        role: Role,
        cfg: &'a Node,
        home: Result<Home, HomeError>,
        dbconfig: Result<Vec<u8>, String>,
    ) -> NodeView<'a> {
        let (repl_port, repl_port_source) = match (cfg.replication_port, &dbconfig) {
            (Some(p), _) => (p.0, PortSource::Config),
            (None, Ok(bytes)) => port_from_dbconfig(bytes, role)
                .map(|(p, l)| (p, PortSource::DbConfig(l)))
                .unwrap_or((DEFAULT_REPLICATION_PORT, PortSource::Default)),
            (None, Err(_)) => (DEFAULT_REPLICATION_PORT, PortSource::Default),
        };
        NodeView {
            access,
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

/// This node's own site as its DB_CONFIG writes it: the local site line of `role`'s block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSite {
    /// The site line (host and port as written, 0-based line index).
    pub site: SiteLine,
    /// The block is active: a commented block's host is usually the template's placeholder.
    pub active: bool,
}

impl LocalSite {
    /// The port, when it is a usable port number (not 0, not text).
    pub fn port(&self) -> Option<u16> {
        self.site.port.parse().ok().filter(|p| *p != 0)
    }

    /// The 1-based line number, for messages.
    pub fn line_no(&self) -> usize {
        self.site.line + 1
    }

    /// The host is an IPv4 address (what the vendor advises DB_CONFIG to use).
    pub fn host_is_ipv4(&self) -> bool {
        self.site.host.parse::<std::net::Ipv4Addr>().is_ok()
    }
}

/// The local site of `role`'s block: the active block of that role, else its first
/// (commented) one; `None` when the file is not readable text or names no local site there.
/// The one reading of "this node's address and port from DB_CONFIG", for the planner and the
/// first-run discovery ([`crate::site_setup`]).
pub fn local_site(bytes: &[u8], role: Role) -> Option<LocalSite> {
    check_encoding(bytes).ok()?;
    let doc = Document::parse(bytes);
    let blocks = find_blocks(&doc);
    let block = blocks
        .iter()
        .find(|b| b.role == role && b.active)
        .or_else(|| blocks.iter().find(|b| b.role == role))?;
    let site = block.local_sites().next()?.clone();
    Some(LocalSite {
        site,
        active: block.active,
    })
}

/// The role whose replication block is active in this DB_CONFIG, when exactly one role's is
/// (`None` for a file with none active, both, or not readable text): what the file says the
/// node is set up as.
pub fn active_role(bytes: &[u8]) -> Option<Role> {
    check_encoding(bytes).ok()?;
    let doc = Document::parse(bytes);
    let blocks = find_blocks(&doc);
    let active = |role| blocks.iter().any(|b| b.role == role && b.active);
    match (active(Role::Master), active(Role::Replicant)) {
        (true, false) => Some(Role::Master),
        (false, true) => Some(Role::Replicant),
        _ => None,
    }
}

/// The port on the local site line of `role`'s block, with its 1-based line number.
pub fn port_from_dbconfig(bytes: &[u8], role: Role) -> Option<(u16, usize)> {
    let local = local_site(bytes, role)?;
    Some((local.port()?, local.line_no()))
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

    #[test]
    fn the_local_site_says_whether_its_block_is_active() {
        let t = b"#rep_set_priority 0\n#repmgr_site 10.9.9.9 5333 db_local_site on\n\nrep_set_priority 0\nrepmgr_site 10.1.1.2 5444 db_local_site on\n";
        let s = local_site(t, Role::Replicant).unwrap();
        assert!(s.active && s.host_is_ipv4());
        assert_eq!(
            (s.site.host.as_str(), s.port(), s.line_no()),
            ("10.1.1.2", Some(5444), 5)
        );
        let s = local_site(
            b"#rep_set_priority 1\n#repmgr_site db.example 0 db_local_site on\n",
            Role::Master,
        )
        .unwrap();
        assert!(!s.active && !s.host_is_ipv4());
        assert_eq!(s.port(), None);
        assert_eq!(local_site(b"\xff\xfe#\x00", Role::Master), None);
    }
}
