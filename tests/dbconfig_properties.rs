//! Property tests of the DB_CONFIG model and `enable`: lossless for any bytes, never panics,
//! changes only the lines of the blocks it means to change, and is idempotent.

use proptest::prelude::*;
use tt_ha::dbconfig::{Document, EnableRequest, Role, SiteAddr, enable, find_blocks};

/// Lines that look like DB_CONFIG lines, so that random files contain blocks.
fn config_line() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop_oneof![
        Just(b"#rep_set_priority 1".to_vec()),
        Just(b"#rep-set-priority 0".to_vec()),
        Just(b"rep_set_priority 0".to_vec()),
        Just(b"rep_set_priority 1".to_vec()),
        Just(b"# \t repmgr_site 192.0.2.10 5100 db_local_site on".to_vec()),
        Just(b"#repmgr_site 192.0.2.20\t5100 db_bootstrap_helper on".to_vec()),
        Just(b"repmgr_site 10.0.0.1 5100 db_local_site on".to_vec()),
        Just(b"repmgr-site 10.0.0.2 5100".to_vec()),
        Just(b"#repmgr_set_local_site 1.2.3.4 5010".to_vec()),
        Just(b"#repmgr_add_remote_site 1.2.3.5 5010".to_vec()),
        Just(b"set_cachesize 0 268435456 1".to_vec()),
        Just(b"# Replication Master".to_vec()),
        Just(b"".to_vec()),
        Just(b"   ".to_vec()),
        Just(b"\xEF\xBB\xBF".to_vec()),
        // Lines Berkeley DB reads as active though they do not start with a keyword.
        Just(b"\x0crep_set_priority 0".to_vec()),
        Just(b"\x0b repmgr_site 10.0.0.3 5100".to_vec()),
        Just(b" \x0c#rep_set_priority 1".to_vec()),
        Just(b"#\x0brepmgr_site 192.0.2.30 5100 db_local_site on".to_vec()),
        Just(b"#rep_set_limit 0".to_vec()),
        Just(b"#rep_set_timeout db_rep_election_timeout 5000000".to_vec()),
        Just(b"#repmgr_site 192.0.2.10 5100 db_local_site on db_bootstrap_helper off".to_vec()),
        Just(b"#repmgr_set_local_site 192.0.2.11 5100".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..20),
    ];
    (
        pieces,
        prop_oneof![Just(&b"\n"[..]), Just(&b"\r\n"[..]), Just(&b""[..])],
    )
        .prop_map(|(mut l, eol)| {
            l.extend_from_slice(eol);
            l
        })
}

fn config_file() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(config_line(), 0..14).prop_map(|ls| ls.concat())
}

fn request(role: Role, remotes: usize) -> EnableRequest {
    EnableRequest {
        role,
        local: "10.9.9.1:6001".parse().unwrap(),
        remotes: (0..remotes)
            .map(|i| SiteAddr {
                host: format!("10.9.9.{}", i + 2),
                port: 6002,
            })
            .collect(),
        switch: remotes.is_multiple_of(2),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn parse_then_render_is_identity_for_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert_eq!(Document::parse(&bytes).render(), bytes);
    }

    #[test]
    fn parse_then_render_is_identity_for_config_like_files(bytes in config_file()) {
        prop_assert_eq!(Document::parse(&bytes).render(), bytes);
    }

    #[test]
    fn enable_never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400), remotes in 0usize..3) {
        let _ = enable(&bytes, &request(Role::Master, remotes));
        let _ = enable(&bytes, &request(Role::Replicant, remotes));
    }

    #[test]
    fn enable_touches_only_block_lines_and_is_idempotent(bytes in config_file(), remotes in 0usize..3, master in any::<bool>()) {
        let role = if master { Role::Master } else { Role::Replicant };
        let req = request(role, remotes);
        if let Ok(done) = enable(&bytes, &req) {
            let old = Document::parse(&bytes);
            prop_assert_eq!(old.lines.len(), done.document.lines.len());
            prop_assert_eq!(old.bom, done.document.bom);
            let blocks = find_blocks(&old);
            for (i, (a, b)) in old.lines.iter().zip(&done.document.lines).enumerate() {
                prop_assert_eq!(a.eol, b.eol, "line ending of line {} changed", i + 1);
                if a.content != b.content {
                    let in_block = blocks.iter().any(|bl| bl.lines.contains(&i) && (bl.role == role || bl.active));
                    prop_assert!(in_block, "line {} changed outside the blocks", i + 1);
                }
            }
            let again = enable(&done.document.render(), &req).expect("enabling an enabled file works");
            prop_assert!(!again.changed, "second enable changed the file");
            let after = find_blocks(&done.document);
            prop_assert!(after.iter().any(|b| b.active && b.role == role));
            prop_assert_eq!(after.iter().filter(|b| b.active).count(), 1);
        }
    }
}

/// Host strings an operator or a broken config could produce: any text, text from the
/// characters that matter to DB_CONFIG and to addresses, near-IPv4 numbers, and names.
fn host_string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9a-zA-Z.:#%_+ \t\r\n\\[\\]\u{0}\u{7}\u{a0}ü-]{0,24}",
        (0u32..400, 0u32..400, 0u32..400, 0u32..400)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        "[0-9]{1,4}(\\.[0-9]{0,4}){0,5}",
        "[a-zA-Z0-9-]{1,12}(\\.[a-zA-Z0-9-]{0,8}){0,3}",
    ]
}

/// The tokens of line `i` of a document (commented or not).
fn tokens_of(doc: &Document, i: usize) -> Vec<Vec<u8>> {
    use tt_ha::dbconfig::directive::{LineKind, classify};
    let content = &doc.lines[i].content;
    match classify(content) {
        LineKind::Directive(d) | LineKind::CommentedDirective { directive: d, .. } => d
            .tokens
            .iter()
            .map(|r| content[r.clone()].to_vec())
            .collect(),
        _ => Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Whatever host and port `enable` is handed (even a struct literal that skipped parsing), it
    /// either refuses, or writes exactly the requested host and port as tokens 1 and 2 of each
    /// site line, with the same number of tokens as before.
    #[test]
    fn enable_writes_exactly_the_requested_tokens_or_refuses(
        local in host_string(), remote in host_string(),
        lport in any::<u16>(), rport in any::<u16>(), master in any::<bool>(),
    ) {
        let role = if master { Role::Master } else { Role::Replicant };
        let req = EnableRequest {
            role,
            local: SiteAddr { host: local.clone(), port: lport },
            remotes: vec![SiteAddr { host: remote.clone(), port: rport }],
            switch: false,
        };
        let old = Document::parse(tt_ha::dbconfig::TEMPLATE);
        if let Ok(done) = enable(tt_ha::dbconfig::TEMPLATE, &req) {
            let new = Document::parse(&done.document.render());
            prop_assert_eq!(old.lines.len(), new.lines.len());
            let block = &done.block;
            let mut seen = 0;
            for site in &block.sites {
                let (want_host, want_port) = match site.kind {
                    tt_ha::dbconfig::SiteKind::Local => (&local, lport),
                    tt_ha::dbconfig::SiteKind::Remote => (&remote, rport),
                };
                let before = tokens_of(&old, site.line);
                let after = tokens_of(&new, site.line);
                prop_assert_eq!(before.len(), after.len(), "line {} changed its token count", site.line + 1);
                prop_assert_eq!(&after[1], want_host.as_bytes());
                let port_text = want_port.to_string();
                prop_assert_eq!(&after[2], port_text.as_bytes());
                prop_assert_eq!(&after[3..], &before[3..]);
                seen += 1;
            }
            prop_assert_eq!(seen, 2);
        }
    }

    /// One rule: `HOST:PORT` parses exactly when `enable` would take that host and port.
    #[test]
    fn parsing_and_enable_apply_the_same_rule(host in host_string(), port in any::<u16>()) {
        prop_assume!(!host.contains(':'));
        let parsed = format!("{host}:{port}").parse::<SiteAddr>();
        let req = EnableRequest {
            role: Role::Master,
            local: SiteAddr { host: host.clone(), port },
            remotes: vec![SiteAddr { host: "192.0.2.99".into(), port: 9 }],
            switch: false,
        };
        let enabled = enable(tt_ha::dbconfig::TEMPLATE, &req);
        prop_assert_eq!(parsed.is_ok(), enabled.is_ok(), "{:?}: parse {:?}, enable {:?}", host, parsed, enabled.as_ref().err());
    }
}
