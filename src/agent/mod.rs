//! The agent: tt-ha on a remote node, started by that node's sshd as `tt-ha agent --stdio`,
//! answering a controller's requests over its stdin/stdout (protocol v1, framed JSON lines,
//! described in the README's "Remote nodes: the agent protocol").
//!
//! - [`protocol`]: the greeting, the operations ([`protocol::Op`]), replies, heartbeats.
//! - [`frame`]: one JSON object per line, with a size bound.
//! - [`confine`]: the folders the agent may act in, checked for every path of a request.
//! - [`serve`]: the agent's loop, on a [`crate::node::LocalNode`] of its own.
//! - [`effects`]: the engine's effects (service, moves, locks, backups), each path checked by
//!   its operation's rule.
//!
//! The controller's side is [`crate::node::remote::RemoteNode`].
//!
//! # How to add an operation
//!
//! One operation per `NodeAccess` method. To add one (say `fsync_dir { path }`):
//!
//! 1. `protocol.rs`, in the `ops!` list: one line, `/// doc` then
//!    `FsyncDir "fsync_dir" { path: String },` (the wire name, its fields; bytes as
//!    `protocol::Bytes`, paths as `String` in the node's spelling). This adds it to
//!    `CAPABILITIES`, which the agent announces.
//! 2. `serve.rs`, `Agent::dispatch`: one arm, `Op::FsyncDir { path } => { let p =
//!    self.allowed("fsync_dir", &path)?; … }`: every path goes through `allowed` (the
//!    confinement, which also logs a refusal); the result goes out with `to_json` and an error
//!    with `failed` (or its own `KIND_*` when the controller must tell it apart).
//! 3. `node/remote.rs`, `impl NodeAccess for RemoteNode`: one method,
//!    `let path = self.wire_path(path)?; self.ask::<T>(Op::FsyncDir { path })`, which sends
//!    it and reads the `ok` value as `T`, turning a `RemoteError` into the method's error
//!    type (the `Remote(String)` variant each error type of the interface has; `io_error`
//!    for an `std::io::Error`).
//!
//! An operation that reports progress (a service stop, a move, a backup, a followed message
//! file) sends `{"id": N, "stream": …}` frames before its reply; the controller hands each to
//! the caller of `RemoteNode::call_streaming` as it arrives. On the agent's side, `dispatch`
//! gets `emit`, which sends one stream frame of the request (`stop_server`, `move_batch` and
//! `make_backup` in [`effects`] show how).
//!
//! An entry's path (any bytes) is a `protocol::WirePath`, which travels without loss; check it
//! with `Agent::entry` and the operation's rule (see [`effects`]), not only `allowed`.
//!
//! Adding an operation does not change the protocol version: an agent that does not serve it
//! answers `bad-request`, and the controller can check `Hello::capabilities` first. Changing
//! what an existing operation means, or its fields, takes a new `PROTOCOL_VERSION`.

pub mod confine;
pub mod effects;
pub mod frame;
mod messages;
pub mod protocol;
pub mod serve;
