//! Lossless DB_CONFIG model and the replication edits tt-ha makes to it.
//!
//! Everything here is pure (bytes in, document out); [`crate::atomic`] writes the result.

pub mod bdbread;
pub mod blocks;
pub mod directive;
pub mod document;
pub mod enable;
pub mod site;
pub mod template;

pub use blocks::{Block, Role, SiteKind, SiteLine, find_blocks};
pub use document::{Document, Eol, Line, check_encoding};
pub use enable::{EnableError, EnableRequest, Enabled, enable};
pub use site::{AddrError, HostKind, SiteAddr, check_host};
pub use template::{TEMPLATE, insert_block};
