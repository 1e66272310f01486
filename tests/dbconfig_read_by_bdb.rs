//! The lines `dbconfig enable` makes active are checked as Berkeley DB reads them
//! (`dbconfig::bdbread::refusal`): here the real Berkeley DB 5.3 is the judge. Each line is
//! written as the only line of a DB_CONFIG and the environment opened (`db5.3_recover`); the
//! check must refuse exactly the lines Berkeley DB refuses (`BDB1584 … incorrect name-value
//! pair`, a port or number out of range), for a table of known cases and for generated ones.
//! tt-ha may refuse more only for a word holding a control character, and for a line longer than
//! Berkeley DB reads at once whose rest is an active line of its own.

use proptest::prelude::*;
use std::process::Command;
use tt_ha::dbconfig::bdbread::{block_refusal, file_refusal, refusal};

/// Whether Berkeley DB opens an environment whose DB_CONFIG is `line` alone; `None` (with a
/// loud message) when `db5.3_recover` is not installed.
fn bdb_reads(line: &[u8]) -> Option<bool> {
    let d = tempfile::tempdir().unwrap();
    let mut text = line.to_vec();
    text.push(b'\n');
    std::fs::write(d.path().join("DB_CONFIG"), &text).unwrap();
    let out = Command::new("db5.3_recover")
        .arg("-h")
        .arg(d.path())
        .output();
    match out {
        Ok(o) => Some(o.status.success()),
        Err(e) => {
            eprintln!("\n!!!! SKIPPED: db5.3_recover cannot run ({e}); install db5.3-util !!!!\n");
            None
        }
    }
}

fn agrees(line: &[u8]) -> Result<(), String> {
    let Some(reads) = bdb_reads(line) else {
        return Ok(());
    };
    let ours = refusal(line);
    // One refusal is stricter than Berkeley DB, on purpose: a word holding a control character
    // (a host `a\rb`) is read, but never names a site that works.
    // Another: a line longer than Berkeley DB reads at once whose rest is an active line (a
    // hidden line, whatever it says: tt-ha edits lines as written).
    let stricter = reads
        && ours
            .as_deref()
            .is_some_and(|w| w.contains("control character") || w.contains("a line of its own"));
    if reads == ours.is_none() || stricter {
        Ok(())
    } else {
        Err(format!(
            "{:?}: Berkeley DB {} it, tt-ha says {ours:?}",
            String::from_utf8_lossy(line),
            if reads { "reads" } else { "refuses" }
        ))
    }
}

#[test]
fn known_lines_are_judged_as_berkeley_db_judges_them() {
    let lines: &[&[u8]] = &[
        b"rep_set_priority 0",
        b"rep_set_priority 0 extra",
        b"rep_set_priority 1 # the master",
        b"rep_set_priority 0\rset_flags DB_TXN_NOSYNC",
        b"rep_set_priority 0\x0b",
        b"rep_set_priority\t0\t",
        b"   rep_set_priority 5",
        b"rep_set_priority +5",
        b"rep_set_priority 010",
        b"rep_set_priority 0x10",
        b"rep_set_priority -1",
        b"rep_set_priority -0",
        b"rep_set_priority 4294967295",
        b"rep_set_priority 4294967296",
        b"rep_set_priority",
        b"repmgr_site 192.0.2.10 5100 db_bootstrap_helper on",
        b"repmgr_site 192.0.2.10 5100 db_bootstrap_helper on # the master",
        b"REPMGR_SITE 192.0.2.10 5100 DB_LOCAL_SITE ON",
        b"repmgr_site 192.0.2.1 5100 DB_Local_Site On",
        b"repmgr_site 192.0.2.10 70000",
        b"repmgr_site h 0",
        b"repmgr_site h 65535",
        b"repmgr_site h 65536",
        b"repmgr_site h +5100",
        b"repmgr_site h",
        b"repmgr_site 192.0.2.10 5100 db_local_site",
        b"repmgr_site 192.0.2.10 5100 db_local_site maybe",
        b"repmgr_site h 5100 db_local_site 7",
        b"repmgr_site h 5100 db_local_site 4294967296",
        b"repmgr_site h 5100 db_repmgr_peer on",
        b"repmgr_site h 5100 db_local_site on db_legacy on db_group_creator on",
        b"repmgr_site h 5100 db_local_site on db_legacy on db_group_creator on db_legacy on",
        b"# a comment",
        b"",
        b"REP_SET_PRIORITY 0",
        b"Rep_set_priority 0",
        b"rep_set_PRIORITY 0",
        b"Repmgr_Site h 5100",
        b"repmgr_site h 5100 db_local_site off",
        // Flags in order: none but `db_local_site` itself on the local site (BDB3663, 3666, 3668).
        b"repmgr_site h 5100 db_local_site on db_bootstrap_helper off",
        b"repmgr_site h 5100 db_local_site on db_repmgr_peer off",
        b"repmgr_site h 5100 db_repmgr_peer off db_local_site on",
        b"repmgr_site h 5100 db_repmgr_peer on db_local_site on",
        b"repmgr_site h 5100 db_bootstrap_helper on db_bootstrap_helper off db_local_site on",
        b"repmgr_site h 5100 db_local_site on db_local_site off",
        b"repmgr_site h 5100 db_local_site off db_local_site off",
        b"repmgr_site h 5100 db_local_site off db_local_site on",
        // White space Berkeley DB skips before the first word: C's isspace.
        b"\x0crep_set_priority 0",
        b"\x0b repmgr_site h 5100",
        b"\x0c\x0brep_set_priority 0 1",
        // The other replication directives.
        b"rep_set_limit 0",
        b"rep_set_limit 0 1048576",
        b"rep_set_limit 0 x",
        b"rep_set_config bogus on",
        b"rep_set_config db_rep_conf_bulk",
        b"rep_set_config DB_REP_CONF_BULK on",
        b"rep_set_config db_repmgr_conf_elections off",
        b"rep_set_config db_rep_conf_bulk maybe",
        b"rep_set_config db_rep_conf_bulk on off",
        b"rep_set_timeout db_rep_election_timeout",
        b"rep_set_timeout db_rep_election_timeout 5000000",
        b"rep_set_timeout DB_REP_HEARTBEAT_SEND 5000000",
        b"rep_set_timeout bogus 5",
        b"rep_set_timeout db_rep_ack_timeout x",
        b"repmgr_set_ack_policy DB_REPMGR_ACKS_BOGUS",
        b"repmgr_set_ack_policy db_repmgr_acks_all",
        b"repmgr_set_ack_policy DB_REPMGR_ACKS_ALL_AVAILABLE",
        b"repmgr_set_ack_policy",
        b"rep_set_nsites 2",
        b"rep_set_nsites two",
        b"rep_set_clockskew 102 100",
        b"rep_set_request 4000 128000",
        b"rep_set_request 4000",
        // Keywords read only in lower case, and the others in any case.
        b"REP_SET_NSITES 2",
        b"Rep_Set_Limit 0 0",
        b"REP_SET_CLOCKSKEW 102 100",
        b"REP_SET_REQUEST 40000 1280000",
        b"REP_SET_CONFIG db_rep_conf_bulk",
        b"REP_SET_TIMEOUT db_rep_ack_timeout 5",
        b"REPMGR_SET_ACK_POLICY db_repmgr_acks_all",
        // Values Berkeley DB refuses though they are numbers.
        b"rep_set_clockskew 100 102",
        b"rep_set_clockskew 0 1",
        b"rep_set_clockskew 100 0",
        b"rep_set_clockskew 0 0",
        b"rep_set_clockskew 102 100",
        b"rep_set_clockskew 100 100",
        b"rep_set_request 0 0",
        b"rep_set_request 100 10",
        b"rep_set_request 1 0",
        b"rep_set_request 0 1",
        b"rep_set_request 1 1",
        b"rep_set_timeout db_rep_ack_timeout 0",
        b"rep_set_timeout db_rep_checkpoint_delay 0",
        b"rep_set_timeout db_rep_connection_retry 0",
        b"rep_set_timeout db_rep_election_timeout 0",
        b"rep_set_timeout db_rep_election_retry 0",
        b"rep_set_timeout db_rep_full_election_timeout 0",
        b"rep_set_timeout db_rep_heartbeat_monitor 0",
        b"rep_set_timeout db_rep_heartbeat_send 0",
        b"rep_set_timeout db_rep_lease_timeout 0",
        b"rep_set_timeout DB_REP_LEASE_TIMEOUT -0",
    ];
    let mut wrong: Vec<String> = lines.iter().filter_map(|l| agrees(l).err()).collect();
    // Past 255 bytes, blanks or a comment are no line of their own; anything else is.
    for tail in ["", "# a comment", "#", "x", "repmgr_site g 5101"] {
        for line in ["repmgr_site h 5100 db_local_site on", "rep_set_priority 0"] {
            let long = format!("{line}{}{tail}", " ".repeat(260 - line.len()));
            wrong.extend(agrees(long.as_bytes()).err());
        }
    }
    // Every name Berkeley DB 5.3 knows, and ones it does not (of other versions).
    for name in [
        "db_rep_conf_autoinit",
        "db_rep_conf_autorollback",
        "db_rep_conf_bulk",
        "db_rep_conf_delayclient",
        "db_rep_conf_inmem",
        "db_rep_conf_lease",
        "db_rep_conf_nowait",
        "db_repmgr_conf_2site_strict",
        "db_repmgr_conf_elections",
        "db_rep_conf_noautoinit",
        "db_repmgr_conf_prefmas_master",
    ] {
        wrong.extend(agrees(format!("rep_set_config {name} on").as_bytes()).err());
    }
    for name in [
        "db_rep_ack_timeout",
        "db_rep_checkpoint_delay",
        "db_rep_connection_retry",
        "db_rep_election_timeout",
        "db_rep_election_retry",
        "db_rep_full_election_timeout",
        "db_rep_heartbeat_monitor",
        "db_rep_heartbeat_send",
        "db_rep_lease_timeout",
        "db_rep_write_forward_timeout",
    ] {
        wrong.extend(agrees(format!("rep_set_timeout {name} 5").as_bytes()).err());
    }
    for name in [
        "db_repmgr_acks_all",
        "db_repmgr_acks_all_available",
        "db_repmgr_acks_all_peers",
        "db_repmgr_acks_none",
        "db_repmgr_acks_one",
        "db_repmgr_acks_one_peer",
        "db_repmgr_acks_quorum",
        "db_repmgr_acks_majority",
    ] {
        wrong.extend(agrees(format!("repmgr_set_ack_policy {name}").as_bytes()).err());
    }
    // Lines about as long as Berkeley DB reads at once (255 bytes): the last word lands on
    // either side of that bound.
    for len in 250..=258 {
        let mut line = b"rep_set_priority".to_vec();
        line.resize(len - 1, b' ');
        line.push(b'0');
        wrong.extend(agrees(&line).err());
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Blocks of several lines: `db_local_site` on a second site's line, even `off`, is refused by
/// Berkeley DB (BDB3667); on one site's line twice, or on the same site twice, it is not.
#[test]
fn known_blocks_are_judged_as_berkeley_db_judges_them() {
    let blocks: &[&[&[u8]]] = &[
        &[
            b"repmgr_site h 5100 db_local_site on",
            b"repmgr_site g 5101 db_local_site off",
        ],
        &[
            b"repmgr_site g 5101 db_local_site off",
            b"repmgr_site h 5100 db_local_site on",
        ],
        &[
            b"repmgr_site h 5100 db_local_site on",
            b"repmgr_site g 5101 db_bootstrap_helper on",
        ],
        &[
            b"repmgr_site h 5100 db_local_site on",
            b"repmgr_site h 5100 db_local_site on",
        ],
        &[
            b"rep_set_priority 0",
            b"repmgr_site h 5100 db_local_site on",
            b"repmgr_site g 5101",
        ],
        &[
            b"repmgr_site h 5100 db_local_site on",
            b"repmgr_site h 5100 db_bootstrap_helper on",
        ],
        &[
            b"repmgr_site h 5100 db_bootstrap_helper on",
            b"repmgr_site h 5100 db_local_site on",
        ],
        &[
            b"repmgr_site h 5100 db_bootstrap_helper on",
            b"repmgr_site h 5100 db_bootstrap_helper off",
            b"repmgr_site h 5100 db_local_site on",
        ],
        &[
            b"repmgr_site h 05100 db_local_site on",
            b"repmgr_site h 5100 db_local_site on",
        ],
        &[
            b"repmgr_site h 5100 db_local_site on",
            b"repmgr_site h 5100 db_local_site off",
        ],
        &[
            b"\x0crepmgr_site h 5100 db_local_site on",
            b"repmgr_site g 5101 db_local_site off",
        ],
    ];
    let mut wrong = Vec::new();
    for lines in blocks {
        let Some(reads) = bdb_reads(&lines.join(&b'\n')) else {
            return;
        };
        let ours = lines
            .iter()
            .find_map(|l| refusal(l))
            .or(block_refusal(lines).map(|(_, w)| w));
        if reads != ours.is_none() {
            wrong.push(format!(
                "{lines:?}: Berkeley DB reads it: {reads}; tt-ha: {ours:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Whole files whose every line alone Berkeley DB reads: `file_refusal` refuses every file
/// Berkeley DB refuses (a long line's tail read as a line of its own, `rep_set_nsites` with
/// sites), and Berkeley DB reads every file it passes. It may refuse more only for a long line
/// whose tail is active at all (a hidden line, whatever it says).
#[test]
fn known_files_are_judged_as_berkeley_db_judges_them() {
    let hashes = |n: usize| "#".repeat(n);
    let files: Vec<String> = vec![
        format!(
            "{}repmgr_site h 5100 db_local_site on\nrepmgr_site g 5101 db_local_site on",
            hashes(255)
        ),
        format!("{}rep_set_priority 0\nrep_set_priority 1", hashes(254)),
        format!("{}\nrepmgr_site h 5100 db_local_site on", hashes(300)),
        format!("{}   \t\nrep_set_priority 0", hashes(254)),
        format!(
            "rep_set_priority 0{}\r\nrep_set_priority 1",
            " ".repeat(237)
        ),
        "rep_set_nsites 2\nrepmgr_site h 5100 db_local_site on".to_string(),
        "repmgr_site h 5100 db_local_site on\nrep_set_nsites 2".to_string(),
        "rep_set_nsites 2\n#repmgr_site h 5100 db_local_site on".to_string(),
        format!(
            "set_flags db_txn_nosync{}repmgr_site h 5100 db_repmgr_peer off\nrepmgr_site h 5100 db_local_site on",
            " ".repeat(232)
        ),
    ];
    let mut wrong = Vec::new();
    for file in &files {
        let Some(reads) = bdb_reads(file.as_bytes()) else {
            return;
        };
        let ours = file_refusal(file.as_bytes());
        let hidden_line = ours
            .as_ref()
            .is_some_and(|(_, w)| w.contains("a line of its own"));
        if reads == ours.is_some() && !(reads && hidden_line) {
            wrong.push(format!(
                "{file:?}: Berkeley DB reads it: {reads}; tt-ha: {ours:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Words a block line may hold, the awkward ones.
fn word() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "192.0.2.1",
        "h",
        "0",
        "1",
        "5100",
        "65535",
        "65536",
        "+7",
        "-0",
        "-1",
        "010",
        "0x10",
        "on",
        "OFF",
        "true",
        "db_local_site",
        "DB_LEGACY",
        "db_bootstrap_helper",
        "db_group_creator",
        "db_repmgr_peer",
        "#",
        "#x",
        "4294967295",
        "4294967296",
        "a\rb",
        "x\x0b",
        "db-local-site",
        "db_rep_conf_bulk",
        "DB_REPMGR_CONF_ELECTIONS",
        "db_rep_election_timeout",
        "db_repmgr_acks_all",
        "bogus",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_lines_are_judged_as_berkeley_db_judges_them(
        keyword in prop::sample::select(vec![
            "rep_set_priority", "repmgr_site", "REPMGR_SITE", "Rep_Set_Priority", "rep_set_config",
            "rep_set_timeout", "rep_set_limit", "rep_set_nsites", "repmgr_set_ack_policy",
        ]),
        lead in prop::sample::select(vec!["", " ", "\t ", "\x0c", "\x0b\t"]),
        words in prop::collection::vec((prop::sample::select(vec![" ", "\t", "  "]), word()), 0..10),
        tail in prop::sample::select(vec!["", " ", "\t"]),
    ) {
        let mut line = format!("{lead}{keyword}");
        for (sep, w) in words {
            line.push_str(sep);
            line.push_str(w);
        }
        line.push_str(tail);
        prop_assert!(agrees(line.as_bytes()).is_ok(), "{}", agrees(line.as_bytes()).unwrap_err());
    }
}
