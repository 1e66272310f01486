//! Every file tt-ha reads that a person or another program may have written, given any bytes:
//! never a panic, and what is not such a file is refused (or ignored and said) naming it. The
//! site config, an agent's node file, `check`'s seek file, a run lock, a backup's manifest and
//! stamp, a definition file and the data it names, a database's first page and a log file's
//! end. Each gets arbitrary bytes, and a real file of its kind with bytes spliced in, cut short
//! or repeated: most arbitrary bytes fail the first check, the mutations reach the later ones.
//! (The journal, DB_CONFIG and message files have their own property tests.)

use proptest::prelude::*;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

/// A real file of a kind changed a little: bytes spliced in at a place, a cut, or a part
/// repeated. Any byte may come in, the ones that end or open a structure most often.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = base.len().max(1);
    let odd = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..16),
        proptest::collection::vec(
            prop::sample::select(&b"\0\n\r\"\\{}[]=,:;#() \xff\xfe9-."[..]),
            0..8
        ),
    ];
    (0..n, 0..n, odd, 0..3u8).prop_map(move |(at, to, odd, how)| {
        let mut b = base.clone();
        let (lo, hi) = (at.min(to), at.max(to));
        match how {
            0 => {
                b.splice(at..at, odd);
            }
            1 => b.truncate(lo),
            _ => {
                let part = b[lo..hi].to_vec();
                b.splice(hi..hi, part.iter().copied().chain(odd));
            }
        }
        b
    })
}

/// Any bytes, or a mutation of `base`.
fn bytes_like(base: &[u8]) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..600),
        mutated(base.to_vec()),
    ]
}

/// The error names the file (its name at least: how it is shown escapes odd bytes).
fn names(err: &str, path: &Path) -> bool {
    err.contains(path.file_name().unwrap().to_str().unwrap())
}

const SITE: &str = include_str!("../templates/tt-ha.toml");

const AGENT: &str = "role = \"replicant\"\n[node]\nname = \"tt-rep\"\naddress = \"192.168.1.11\"\nhome = \"/srv/tt/var/db\"\nrun_dir = \"/srv/tt/var/tt-ha\"\nbackup_dir = \"/srv/tt/backup\"\nprocess = { name = \"ttfs\" }\nservice = { kind = \"systemd\", unit = \"ttfs.service\" }\n";

const DEFINITION: &str = "# an export\nSetFile(\"data.csv\");\nSetCSVDelimiter(\";\");\nAddString(EXCLUSION, 0, \"volume;*\");\nExtract(VOLUME, 1, 0);\nRemoveSpaces(VOLUME);\nExtract(CUSTOMER, 2, 0);\nExtract(MEDIA, 3, 0);\nExtract(LOCATION, 4, 0);\nAddTranslation(LOCATION, \"VAULT-OLD\", \"VAULT\");\n";

const DATA: &str = "volume;customer;media;location\nA 1;ACME;LTO;VAULT\nA2;ACME;LTO;VAULT-OLD\n\"B1\";\"BE;TA\";LTO;LIBRARY\n";

/// A seek file as `check` writes it, of a real message file (its first 200 lines).
fn seek_sample() -> Vec<u8> {
    let d = tempfile::tempdir().unwrap();
    let real = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/bdb/5.3-a-master.txt"
    ))
    .unwrap();
    let lines: String = real.lines().take(200).map(|l| format!("{l}\n")).collect();
    let file = d.path().join("$DB_Msg.txt");
    std::fs::write(&file, lines).unwrap();
    let (saved, _) =
        tt_ha::monitor::seekfile::read_node(&[], "master", &file, "$DB_Msg.txt").unwrap();
    let seek = d.path().join("check.seek");
    tt_ha::monitor::seekfile::save(&seek, &[saved]).unwrap();
    std::fs::read(seek).unwrap()
}

/// A lock as tt-ha writes it.
const LOCK: &str = "pid 4242 run 20261125T000000Z command apply controller host:/var/lib/tt-ha started 1700000000\n";

/// A backup folder as tt-ha makes it (one database), with its manifest's and stamp's bytes.
fn backup_sample() -> (tempfile::TempDir, Vec<u8>, Vec<u8>) {
    let home = tempfile::tempdir().unwrap();
    std::fs::write(home.path().join("DB_CONFIG"), "set_lg_dir .\n").unwrap();
    std::fs::write(home.path().join("volumes.db"), vec![7u8; 4096]).unwrap();
    let root = tempfile::tempdir().unwrap();
    let h = tt_ha::dbhome::Home::open(home.path(), "$DB_Msg.txt").unwrap();
    tt_ha::backup::make(&h, root.path(), "b", &mut |_| {}).unwrap();
    let dir = root.path().join("b");
    let manifest = std::fs::read(dir.join(tt_ha::backup::MANIFEST)).unwrap();
    let stamp = std::fs::read(dir.join(".tt-ha-verified.json")).unwrap_or_default();
    (root, manifest, stamp)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn a_site_config_of_any_bytes_loads_or_names_itself(bytes in bytes_like(SITE.as_bytes())) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tt-ha.toml");
        std::fs::write(&p, &bytes).unwrap();
        if let Err(e) = tt_ha::config::load(&p) {
            let e = e.to_string();
            prop_assert!(names(&e, &p), "{e}");
        }
        prop_assert_eq!(std::fs::read(&p).unwrap(), bytes, "the config was changed");
    }

    #[test]
    fn an_agent_node_file_of_any_bytes_loads_or_names_itself(bytes in bytes_like(AGENT.as_bytes())) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("tt-ha-node.toml");
        std::fs::write(&p, &bytes).unwrap();
        if let Err(e) = tt_ha::config::load_agent(&p) {
            let e = e.to_string();
            prop_assert!(names(&e, &p), "{e}");
        }
    }

    #[test]
    fn a_seek_file_of_any_bytes_is_read_or_ignored_and_said(bytes in bytes_like(&seek_sample())) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("check.seek");
        std::fs::write(&p, &bytes).unwrap();
        let loaded = tt_ha::monitor::seekfile::load(&p);
        prop_assert!(loaded.ignored.is_some() || !bytes.is_empty() || loaded.nodes.is_empty());
        // Whatever it remembers, looking a node up in it never panics.
        let _ = tt_ha::monitor::seekfile::find(&loaded.nodes, "master", Path::new("/m/$DB_Msg.txt"));
    }

    #[test]
    fn a_lock_of_any_bytes_is_a_lock_or_garbled(bytes in bytes_like(LOCK.as_bytes())) {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join(tt_ha::runlock::LOCK_FILE_NAME), &bytes).unwrap();
        match tt_ha::runlock::inspect(d.path()) {
            // A lock names a live pid: no process has pid 0.
            tt_ha::runlock::Found::Lock { info, .. } => prop_assert!(info.pid != 0),
            // Quoted for the operator: every byte shown, no raw control byte but the layout's.
            tt_ha::runlock::Found::Garbled(why) => prop_assert!(
                !why.chars().any(|c| c.is_control() && c != '\n' && c != '\t'),
                "{why:?}"
            ),
            tt_ha::runlock::Found::Free | tt_ha::runlock::Found::Unasked(_) => {
                prop_assert!(false, "a file under the lock's name read as no lock")
            }
        }
    }

    #[test]
    fn a_definition_and_its_data_of_any_bytes_are_read_or_refused_naming_them(
        def in bytes_like(DEFINITION.as_bytes()),
        data in bytes_like(DATA.as_bytes()),
    ) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("export.ttidef");
        std::fs::write(&p, &def).unwrap();
        std::fs::write(d.path().join("data.csv"), &data).unwrap();
        match tt_ha::verify::definition::load(&p) {
            Err(e) => {
                let e = e.to_string();
                prop_assert!(names(&e, &p), "{e}");
            }
            Ok(definition) => {
                let limits = tt_ha::verify::wake::Limits {
                    stop: Arc::new(AtomicBool::new(false)),
                    silence: None,
                };
                // Read whole, or refused with an error: never a panic.
                let _ = tt_ha::verify::defsource::DefinitionSide::read(definition, &limits);
            }
        }
    }

    #[test]
    fn a_databases_first_page_and_a_logs_end_of_any_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        zeros in 0usize..5000,
    ) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.db");
        let mut all = bytes.clone();
        all.resize(all.len() + zeros, 0);
        std::fs::write(&p, &all).unwrap();
        let head = tt_ha::dbhead::of_file(&p).unwrap();
        prop_assert_eq!(head, tt_ha::dbhead::parse(&all));
        let end = tt_ha::backup::written_end(&p).unwrap();
        prop_assert!(end <= all.len() as u64);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    /// A manifest or stamp of any bytes: the backup is verified, or refused naming its folder
    /// (a stamp that does not parse vouches for nothing: every copy is read again).
    #[test]
    fn a_backups_manifest_or_stamp_of_any_bytes_is_refused_or_verified(
        which in 0..2u8,
        seed in any::<u64>(),
        cut in any::<prop::sample::Index>(),
        odd in proptest::collection::vec(any::<u8>(), 0..12),
    ) {
        let (root, manifest, stamp) = backup_sample();
        let dir = root.path().join("b");
        let (name, base) = if which == 0 {
            (tt_ha::backup::MANIFEST, manifest)
        } else {
            (".tt-ha-verified.json", stamp)
        };
        // One byte changed or bytes spliced in at a place, chosen by `seed`.
        let mut b = base.clone();
        if !b.is_empty() {
            let at = cut.index(b.len());
            if seed % 2 == 0 {
                b[at] ^= (seed >> 8) as u8 | 1;
            } else {
                b.splice(at..at, odd);
            }
        }
        std::fs::write(dir.join(name), &b).unwrap();
        for trust in [tt_ha::backup::Trust::Reread, tt_ha::backup::Trust::EarlierInThisRun] {
            if let Err(e) = tt_ha::backup::verify_manifest(&dir, None, trust) {
                let e = e.to_string();
                prop_assert!(e.contains(&dir.display().to_string()), "{e}");
            }
        }
    }
}

/// The samples the mutations start from are real files of their kinds, each read as one: a
/// mutation then reaches the checks past the first.
#[test]
fn every_sample_is_a_good_file_of_its_kind() {
    let d = tempfile::tempdir().unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = d.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let site = write("tt-ha.toml", SITE.as_bytes());
    tt_ha::config::load(&site).unwrap_or_else(|e| panic!("{e}"));
    let agent = write("tt-ha-node.toml", AGENT.as_bytes());
    tt_ha::config::load_agent(&agent).unwrap_or_else(|e| panic!("{e}"));
    let seek = write("check.seek", &seek_sample());
    let loaded = tt_ha::monitor::seekfile::load(&seek);
    assert_eq!(loaded.ignored, None);
    assert_eq!(loaded.nodes.len(), 1);
    std::fs::write(d.path().join(tt_ha::runlock::LOCK_FILE_NAME), LOCK).unwrap();
    assert!(matches!(
        tt_ha::runlock::inspect(d.path()),
        tt_ha::runlock::Found::Lock { info, .. } if info.pid == 4242
    ));
    write("data.csv", DATA.as_bytes());
    let def = write("export.ttidef", DEFINITION.as_bytes());
    let definition = tt_ha::verify::definition::load(&def).unwrap_or_else(|e| panic!("{e}"));
    let limits = tt_ha::verify::wake::Limits {
        stop: Arc::new(AtomicBool::new(false)),
        silence: None,
    };
    tt_ha::verify::defsource::DefinitionSide::read(definition, &limits)
        .unwrap_or_else(|e| panic!("{e}"));
    let (root, manifest, stamp) = backup_sample();
    assert!(!manifest.is_empty() && !stamp.is_empty());
    tt_ha::backup::verify_manifest(&root.path().join("b"), None, tt_ha::backup::Trust::Reread)
        .unwrap();
}
