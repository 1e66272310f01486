//! Protocol v1 between a controller and a node's agent: the greeting, the operations, the
//! replies and the heartbeats, as Rust types. The wire is framed JSON lines
//! ([`super::frame`]); the README's "Remote nodes: the agent protocol" describes the same.

use crate::node::NodeOs;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The protocol version this build speaks. A controller and an agent speak only their own
/// version: a change that an older peer would misread takes a new number.
pub const PROTOCOL_VERSION: u32 = 1;

/// The fixed text a greeting line starts with, followed by the version, a space and the
/// [`Hello`] as JSON: `tt-ha-agent/1 {"protocol":1,…}`. Fixed so that whatever a login script
/// prints before it is recognised as stray output, not taken for the agent.
pub const GREETING_PREFIX: &str = "tt-ha-agent/";

/// The largest frame either side accepts, in bytes (a line longer than this is refused, and
/// the connection closed, instead of growing without bound). Room for a 32 MiB file read in
/// base64.
pub const MAX_FRAME: usize = 48 * 1024 * 1024;

/// The largest file `read_file` sends whole (its base64 text fits in one frame). A DB_CONFIG
/// is a few KiB; anything larger is refused with its size rather than cut.
pub const MAX_FILE: usize = 32 * 1024 * 1024;

/// How often each side sends a heartbeat when it has nothing else to say.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(5);

/// A connection silent for longer than this is dead (six heartbeats missed).
pub const SILENCE_LIMIT: Duration = Duration::from_secs(30);

/// What an agent says about itself in its greeting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The protocol version (the same number as in the greeting's prefix).
    pub protocol: u32,
    /// The agent's tt-ha version.
    pub version: String,
    /// The node's operating system, which spells its paths.
    pub os: NodeOs,
    /// The operations it serves (`op` names).
    pub capabilities: Vec<String>,
    /// The node it serves: its name and role.
    pub node: String,
    /// `master` or `replicant`.
    pub role: crate::dbconfig::Role,
    /// The folders it acts in, as the node spells them; nothing outside them is served.
    pub confinement: Confinement,
    /// The machine the agent runs on (`NodeAccess::machine_id` there): two nodes whose agents
    /// give one id share a machine (its lock, its process table). Empty from an agent that
    /// does not say.
    #[serde(default)]
    pub machine_id: String,
}

/// The folders an agent allows, as the node spells them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confinement {
    /// The Berkeley DB home.
    pub home: String,
    /// The run folder (journal, quarantine).
    pub run_dir: String,
    /// The backup folder, when the node has one.
    pub backup_dir: Option<String>,
}

/// The greeting line for `hello` (without its line break).
pub fn greeting(hello: &Hello) -> String {
    format!(
        "{GREETING_PREFIX}{} {}",
        hello.protocol,
        serde_json::to_string(hello).unwrap_or_default()
    )
}

/// What a line that starts with [`GREETING_PREFIX`] says.
#[derive(Debug)]
pub enum Greeting {
    /// This protocol, and the agent's hello.
    Hello(Box<Hello>),
    /// Another protocol version; the agent's tt-ha version when it could be read.
    OtherVersion {
        /// The version the agent speaks (as written).
        protocol: String,
        /// Its tt-ha version, when the rest of the line says.
        version: Option<String>,
    },
    /// The line starts like a greeting but is not one.
    Garbled(String),
}

/// Reads a greeting line; `None` when the line is not a greeting at all (stray output).
pub fn parse_greeting(line: &str) -> Option<Greeting> {
    let rest = line.strip_prefix(GREETING_PREFIX)?;
    let (number, json) = rest.split_once(' ').unwrap_or((rest, ""));
    if number != PROTOCOL_VERSION.to_string() {
        let version = serde_json::from_str::<serde_json::Value>(json)
            .ok()
            .and_then(|v| v.get("version")?.as_str().map(str::to_string));
        return Some(Greeting::OtherVersion {
            protocol: number.to_string(),
            version,
        });
    }
    Some(match serde_json::from_str::<Hello>(json) {
        Ok(h) if h.protocol == PROTOCOL_VERSION => Greeting::Hello(Box::new(h)),
        Ok(h) => Greeting::OtherVersion {
            protocol: h.protocol.to_string(),
            version: Some(h.version),
        },
        Err(e) => Greeting::Garbled(e.to_string()),
    })
}

/// Bytes in a frame: standard base64 text (a file's bytes are not always UTF-8).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Bytes, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(Bytes)
            .map_err(serde::de::Error::custom)
    }
}

/// Declares the operations once: the [`Op`] enum (the request's `op` and its fields) and
/// [`CAPABILITIES`] (the names an agent announces) cannot drift apart.
macro_rules! ops {
    ($( $(#[$doc:meta])* $variant:ident $name:literal $({ $($field:ident : $ty:ty),* $(,)? })? ),* $(,)?) => {
        /// One request's operation and its arguments. Paths are the node's own spelling.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "op")]
        pub enum Op {
            $( $(#[$doc])* #[serde(rename = $name)] $variant $({ $(
                #[allow(missing_docs)] $field: $ty ),* })? ),*
        }

        /// The operations this build serves, by `op` name (the greeting's `capabilities`).
        pub const CAPABILITIES: &[&str] = &[$($name),*];

        impl Op {
            /// The operation's wire name.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Op::$variant { .. } => $name ),*
                }
            }
        }
    };
}

ops! {
    /// Describe the home (`NodeAccess::list_home`). Reply: the `Home`.
    ListHome "list_home",
    /// Read a regular file. Reply: `{"bytes": base64}`.
    ReadFile "read_file" { path: String },
    /// Replace a file atomically if it still holds `expected`. Reply: `null`.
    ReplaceIfUnchanged "replace_if_unchanged" { path: String, expected: Bytes, new: Bytes },
    /// Free bytes where `path` is. Reply: a number.
    AvailableSpace "available_space" { path: String },
    /// Whether `a` and `b` are on one file system. Reply: `true`, `false` or `null`.
    SameFilesystem "same_filesystem" { a: String, b: String },
    /// The service manager's view. Reply: `"running"`, `"stopped"`, `{"pending": …}`,
    /// `{"unknown": …}`.
    ServiceState "service_state",
    /// The server processes. Reply: a list of `{pid, name, uptime_secs, memory}`.
    ServerProcesses "server_processes",
    /// Every process holding a file of the home. Reply: `{holders, uninspected}`.
    HomeHolders "home_holders",
    /// Whether the client port answers. Reply: `true` or `false`.
    ClientPortOpen "client_port_open",
    /// `list_home`, reusing the agent's last listing while the home provably has not changed.
    ListHomeReused "list_home_reused",
    /// The identities of the home and the folders above it. Reply: a list of strings.
    HomeLineage "home_lineage",
    /// Where the home, run folder and backup folder lie (`identity::NodeFolders`). Reply:
    /// `{home, run, backup}`, each `{exists, ids, places}` (`backup` may be `null`).
    NodeFolders "node_folders",
    /// Whether the node's address is its machine's (the peer named for the loopback rule).
    /// Reply: `{"Ok": how}` or `{"Err": why}`.
    AddressCheck "address_check" { peer_name: String, peer_address: String },
    /// Whether anything says the server runs. Reply: `true` or `false`.
    ServerUp "server_up" { timeout_ms: u64 },
    /// Stop and confirm. Streams each report (`{"note": …}` or `{"waiting": {secs, text}}`).
    /// Reply: `null`; a server still running is the error kind `still-running` with `detail`.
    StopServer "stop_server" { deadline_ms: u64 },
    /// Start and confirm; streams its reports as `stop_server`. Reply: `null`.
    StartServer "start_server" { deadline_ms: u64 },
    /// Ask the service manager to start the server, without waiting. Reply: `null`.
    StartServerOnly "start_server_only" { timeout_ms: u64 },
    /// The server's processes told apart. Reply: `{sure, unsure}`.
    IdentifyServers "identify_servers" { timeout_ms: u64 },
    /// Why `pid` is this node's server. Reply: `{"Ok": why}` or `{"Err": why not}`.
    ServerEvidence "server_evidence" { pid: u32, timeout_ms: u64 },
    /// End identified server processes; streams its reports. Reply: a list of `{pid, signal}`.
    EndServers "end_servers" { targets: Vec<crate::service::Identified>, grace_ms: u64 },
    /// Processes matching `[process]`. Reply: a list of processes.
    MatchingProcesses "matching_processes",
    /// Whether `port` at the node's address answers. Reply: `true` or `false`.
    PortOpen "port_open" { port: u16 },
    /// Run the node's `ping_command`. Reply: `null` (none), `{"Ok": null}` or `{"Err": why}`.
    RunPing "run_ping",
    /// Whether anything is at `path`. Reply: `true` or `false`.
    Exists "exists" { path: WirePath },
    /// Copy a file of the home into the run folder, hashed and durable. Reply: `null`.
    CopyFileDurably "copy_file_durably" { from: WirePath, to: WirePath },
    /// Move entries between the home and the run folder (either way), durably. Streams
    /// `{"done": n}`. Reply: `[moved, already]`.
    MoveBatch "move_batch" { pairs: Vec<(WirePath, WirePath)>, dest_is_ours: bool },
    /// Bytes under `path`. Reply: a number.
    TreeSize "tree_size" { path: WirePath },
    /// The entries of `dir`, a folder inside the run folder (a quarantine), checked against
    /// the run's journal. Reply: a list of paths, or `null` when they cannot be listed.
    RunFolderEntries "run_folder_entries" { dir: WirePath },
    /// Why `move_batch` of `pairs` would be refused, asked before any is moved. Reply: `null`
    /// or the reason.
    MovesRefused "moves_refused" { pairs: Vec<(WirePath, WirePath)> },
    /// Why `remove_tree` of `path` would be refused, asked before a purge is journaled.
    /// Reply: `null` or the reason.
    RemovalRefused "removal_refused" { path: WirePath },
    /// Remove a folder inside the run folder. Reply: `null`.
    RemoveTree "remove_tree" { path: WirePath },
    /// Whether a file can be made in `dir`. Reply: `null` or `{at, error}`.
    CheckWritable "check_writable" { dir: WirePath },
    /// The run folder's lock file. Reply: `{"found": F, "ours": bool}`, F `"Free"`,
    /// `{"Lock": {info, alive}}` or `{"Garbled": …}`; `ours` when this session holds it.
    InspectLock "inspect_lock",
    /// Take the run folder's lock, held by the agent until `unlock_run_folder` or the end of
    /// the session. Reply: `{lock, took_over}`.
    LockRunFolder "lock_run_folder" { run_id: String, command: String, controller: Option<String> },
    /// Release a lock `lock_run_folder` took. Reply: `null`.
    UnlockRunFolder "unlock_run_folder" { lock: u64 },
    /// Find and judge the backup of the home. Reply: the assessment.
    AssessBackup "assess_backup" { trust: crate::backup::Trust },
    /// An unused backup folder name from `base`. Reply: a string.
    UnusedBackupId "unused_backup_id" { base: String },
    /// Verify, top up or make the backup; streams copy progress. Reply: the outcome.
    MakeBackup "make_backup" { found: Box<crate::backup::Found>, new_id: String, trust: crate::backup::Trust },
    /// Start following the node's message file from `start` (`"beginning"`, `{"tail": n}`,
    /// `{"offset": o}`), on the node (its own `tail -F`). Reply: `{"follow": id}`.
    FollowOpen "follow_open" { start: crate::monitor::source::Start },
    /// What is new in a followed file, up to about `max_bytes`: a list of pieces, each
    /// `{"notice": "opened"|"truncated"|"replaced"|"missing"}` or `{"offset": o, "bytes":
    /// base64}` in file order; empty when nothing is new. Reply: `{"pieces": [...]}`.
    FollowNext "follow_next" { follow: u64, max_bytes: u64 },
    /// Like `follow_next`, but when nothing is new the agent waits up to `wait_ms` (at most a
    /// few seconds) for the file to change before answering (the node's own notifications):
    /// a controller keeps one waiting, and an append reaches it without a poll interval.
    /// Reply: `{"pieces": [...]}` (empty when nothing came within the wait).
    FollowWait "follow_wait" { follow: u64, max_bytes: u64, wait_ms: u64 },
    /// Like `follow_wait`, but pushed: the agent sends what is new now, then each append as
    /// the node sees it, as stream frames `{"pieces": [...]}` of this request (the pieces of
    /// `follow_next`), until `max_bytes` were sent, `wait_ms` passed (at most a few seconds)
    /// or the session's input ended. Reply: `{"sent": n}` (the bytes it streamed). Each
    /// request is credit for `max_bytes`: a controller asks again only while it has room.
    FollowStream "follow_stream" { follow: u64, max_bytes: u64, wait_ms: u64 },
    /// Stop following. Reply: `null`.
    FollowClose "follow_close" { follow: u64 },
    /// `check`'s read of the message file from a saved position (`since`: a seek file's
    /// entry, as `check` keeps it). Reply: `[saved, outcome]` (the state, not the bytes).
    ReadMessages "read_messages" { since: Option<serde_json::Value> },
    /// Where the running server's lines begin in the message file. Reply: a number.
    RunningProcessStart "running_process_start",
    /// The home's database files and sizes. Reply: `{name: bytes}`.
    DatabaseSizes "database_sizes",
    /// The home's database files and their file ids. Reply: `{name: hex}`.
    DatabaseIds "database_ids",
    /// The process `pid` when it is still this node's server. Reply: a process or `null`.
    StillServer "still_server" { pid: u32 },
}

/// An entry's path in a frame, without loss: a string when it is valid Unicode, else its exact
/// bytes (`{"hex": …, "shown": …}`, as the journal writes it). A Linux file name is bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WirePath(#[serde(with = "crate::pathjson")] pub std::path::PathBuf);

/// The server is still running after a stop's deadline: `WireError::detail` holds the
/// `ServiceError::StillRunning` fields, so the controller can decide as it would locally.
pub const KIND_STILL_RUNNING: &str = "still-running";

/// A request: `{"id": N, "op": "…", …fields}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Chosen by the controller; the reply carries it back.
    pub id: u64,
    /// What to do.
    #[serde(flatten)]
    pub op: Op,
}

/// Why a request failed, as the agent sends it: a machine-readable kind and a message for
/// people that says what to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireError {
    /// One of the `KIND_*` words.
    pub kind: String,
    /// What happened and what to do.
    pub message: String,
    /// The path concerned, as the node spells it, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// What the controller needs to rebuild the error, for kinds that carry more than words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The path is outside the folders the node allows (or escapes them): nothing was done.
pub const KIND_REFUSED: &str = "refused";
/// The file changed since it was read: nothing was written.
pub const KIND_CHANGED: &str = "changed";
/// The operation failed on the node (its message says how).
pub const KIND_FAILED: &str = "failed";
/// The operation cannot be answered on that node's system.
pub const KIND_UNAVAILABLE: &str = "unavailable";
/// The request could not be read, or names an operation the agent does not serve.
pub const KIND_BAD_REQUEST: &str = "bad-request";

/// A reply frame: exactly one of `ok` and `error` is present.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    /// The request's id.
    pub id: u64,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ok: Option<serde_json::Value>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WireError>,
}

/// A heartbeat frame: `{"heartbeat": T}`, T the sender's seconds since it started.
pub fn heartbeat(seconds: u64) -> String {
    format!("{{\"heartbeat\":{seconds}}}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_one_flat_object_and_reads_back() {
        let r = Request {
            id: 7,
            op: Op::ReplaceIfUnchanged {
                path: "/srv/db/DB_CONFIG".into(),
                expected: Bytes(b"old\n".to_vec()),
                new: Bytes(vec![0, 255, b'\n']),
            },
        };
        let text = serde_json::to_string(&r).unwrap();
        assert!(
            text.starts_with(r#"{"id":7,"op":"replace_if_unchanged","path":"/srv/db/DB_CONFIG""#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), r);
        let unit = serde_json::to_string(&Request {
            id: 1,
            op: Op::ListHome,
        })
        .unwrap();
        assert_eq!(unit, r#"{"id":1,"op":"list_home"}"#);
    }

    #[test]
    fn capabilities_name_every_operation_once() {
        let mut names = CAPABILITIES.to_vec();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CAPABILITIES.len());
        assert_eq!(Op::ClientPortOpen.name(), "client_port_open");
    }

    #[test]
    fn greetings_of_this_and_other_versions() {
        let h = Hello {
            protocol: PROTOCOL_VERSION,
            version: "0.1.0".into(),
            os: NodeOs::Unix,
            capabilities: vec!["list_home".into()],
            node: "rep".into(),
            role: crate::dbconfig::Role::Replicant,
            confinement: Confinement {
                home: "/srv/db".into(),
                run_dir: "/srv/tt-ha".into(),
                backup_dir: None,
            },
            machine_id: "m1".into(),
        };
        match parse_greeting(&greeting(&h)) {
            Some(Greeting::Hello(got)) => assert_eq!(*got, h),
            other => panic!("{other:?}"),
        }
        match parse_greeting(r#"tt-ha-agent/2 {"version":"9.0.0"}"#) {
            Some(Greeting::OtherVersion { protocol, version }) => {
                assert_eq!(protocol, "2");
                assert_eq!(version.as_deref(), Some("9.0.0"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_greeting("tt-ha-agent/1 {not json"),
            Some(Greeting::Garbled(_))
        ));
        assert!(parse_greeting("Welcome to host!").is_none());
    }
}
