//! `tt-ha verify` with both nodes remote (the two-host testbed, `testbed/hosts.sh`): the client
//! ports are reached over TCP at each node's address from tt-ha.toml, as TapeTrack's tools do,
//! and the replication line comes from both message files read through each node's agent over
//! ssh. Root only: elsewhere the test prints a loud SKIP line and returns.

use serde_json::Value;

mod common;
use common::hosts::{HostsSandbox, ask_at};
use common::text;

#[test]
fn verify_compares_two_remote_nodes_and_reads_their_message_files_over_ssh() {
    let Some(sb) = HostsSandbox::up_or_skip(
        "verify_compares_two_remote_nodes_and_reads_their_message_files_over_ssh",
        3_000,
    ) else {
        return;
    };
    let o = sb.tt_ha(&["apply", "--yes"]);
    assert!(o.status.success(), "apply: {}", text(&o));
    let o = sb.tt_ha(&["verify", "--json"]);
    let v: Value =
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(v["stats"]["equal"], 3_000, "{}", text(&o));
    assert_eq!(v["stats"]["cache_loads"], v["stats"]["scopes"]);
    assert_eq!(
        v["replication"]["running"],
        true,
        "{}\n{}",
        text(&o),
        sb.connection_lines()
    );
    let master = v["master"].as_str().unwrap();
    assert!(master.contains(&sb.address("master")), "{master}");

    // A Volume changed on the master reaches the replicant: verify waits for it, no difference.
    let put = ask_at(
        &sb.address("master"),
        5000,
        "PUT volume V0000001 customer=C00000 media=LTO-5 status=remote-change slot=1",
    )
    .unwrap();
    assert_eq!(put, "OK");
    let o = sb.tt_ha(&["verify", "--json"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}
