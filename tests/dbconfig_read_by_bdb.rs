//! The lines `dbconfig enable` makes active are checked as Berkeley DB reads them
//! (`dbconfig::bdbread::refusal`): here the real Berkeley DB 5.3 is the judge. Each line is
//! written as the only line of a DB_CONFIG and the environment opened (`db5.3_recover`); the
//! check must refuse exactly the lines Berkeley DB refuses (`BDB1584 … incorrect name-value
//! pair`, a port or number out of range), for a table of known cases and for generated ones.
//! tt-ha may refuse more only for a word holding a control character.

use proptest::prelude::*;
use std::process::Command;
use tt_ha::dbconfig::bdbread::{block_refusal, refusal};

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
    let stricter = reads
        && ours
            .as_deref()
            .is_some_and(|w| w.contains("control character"));
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
    ];
    let wrong: Vec<String> = lines.iter().filter_map(|l| agrees(l).err()).collect();
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
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_lines_are_judged_as_berkeley_db_judges_them(
        keyword in prop::sample::select(vec!["rep_set_priority", "repmgr_site", "REPMGR_SITE", "Rep_Set_Priority"]),
        lead in prop::sample::select(vec!["", " ", "\t "]),
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
