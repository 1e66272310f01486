//! The one rule for replication site addresses (`HOST:PORT`), as the CLI parses them and as
//! `enable` checks whatever it is given: malformed IPv4 spellings, host names that could shift a
//! DB_CONFIG line's tokens, IPv6 literals, ports outside 1–65535, and the local site given again
//! as a remote site are all refused; a refusal never yields a document.

use tt_ha::dbconfig::{EnableRequest, Role, SiteAddr, TEMPLATE, enable};

/// Hosts that are an attempt at an IPv4 address but not a valid one.
const BAD_IPV4: &[&str] = &[
    "999.1.1.1",
    "256.0.0.1",
    "1.2.3.256",
    "1.2.3",
    "1.2",
    "1",
    "2130706433",
    "1.2.3.4.5",
    "+1.2.3.4",
    "1.+2.3.4",
    "-1.2.3.4",
    "1..2.3",
    ".1.2.3",
    "1.2.3.",
    "1.2.3.4.",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2. 3.4",
    "1.2.3.4\t",
    "10.0.0.1\n",
    "10.0.0.1\r",
    "10.0.0.1\u{7}",
    "10.0.0.1\u{0}",
    "10.0.0.1#",
    "#10.0.0.1",
    "010.0.0.1",
    "10.0.0.01",
    "0x7f.0.0.1",
    "0x7f000001",
    "1.2.3.0x4",
    "１.２.３.４",
    "10.0.0.١",
    "10.0.0.1\u{a0}",
    "10.0.0.1\u{200b}",
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
];

/// Hosts that are meant as names but could shift tokens or are not DNS names.
const BAD_NAMES: &[&str] = &[
    "",
    "10.0.0.1 x",
    "host name",
    "a#b",
    "ttmaster#",
    "tab\there",
    "new\nline",
    "cr\rhost",
    "ctl\u{1}host",
    "del\u{7f}host",
    "ünïcode",
    "münchen.example",
    "-host",
    "host-",
    "a.-b",
    "a..b",
    "host.",
    ".host",
    "_under",
    "under_score",
    "semi;colon",
    "quote\"d",
    "a/b",
    "a\\b",
    "a,b",
    "a=b",
    "a*b",
    "[host]",
    "host.123",
    "host.example.4",
];

/// Good hosts: IPv4 addresses and DNS names.
const GOOD: &[&str] = &[
    "10.0.0.1",
    "192.168.1.10",
    "1.2.3.4",
    "255.255.255.254",
    "127.0.0.1",
    "ttmaster",
    "TT-Master.example.com",
    "a",
    "host1",
    "3com.example",
    "xn--mnchen-3ya.example",
    "tt-replicant.corp.local",
];

/// IPv6 in every spelling an operator might paste.
const IPV6: &[&str] = &[
    "[::1]:5100",
    "::1",
    "::1:5100",
    "[::1]",
    "fe80::1%eth0",
    "fe80::1%eth0:5100",
    "[fe80::1%eth0]:5100",
    "[2001:db8::1]:5100",
    "2001:db8::1:5100",
    "2001:0db8:0000:0000:0000:0000:0000:0001",
    "[::ffff:10.0.0.1]:5100",
    "::ffff:10.0.0.1:5100",
];

fn parse(s: &str) -> Result<SiteAddr, String> {
    s.parse::<SiteAddr>()
}

fn request(local: SiteAddr, remote: SiteAddr) -> EnableRequest {
    EnableRequest {
        role: Role::Master,
        local,
        remotes: vec![remote],
        switch: false,
    }
}

fn addr(host: &str, port: u16) -> SiteAddr {
    SiteAddr {
        host: host.to_string(),
        port,
    }
}

/// The error of `enable` with this local site, or a panic saying it was accepted.
fn enable_refusal(local: SiteAddr, remote: SiteAddr) -> String {
    match enable(TEMPLATE, &request(local.clone(), remote.clone())) {
        Ok(done) => panic!(
            "enable accepted local {local:?} remote {remote:?} and wrote:\n{}",
            String::from_utf8_lossy(&done.document.render())
        ),
        Err(e) => e.to_string(),
    }
}

#[test]
fn malformed_ipv4_spellings_are_refused_everywhere() {
    for host in BAD_IPV4 {
        let text = format!("{host}:5100");
        let e = parse(&text).expect_err(&format!("{text:?} was accepted"));
        assert!(e.contains("IPv4"), "{text:?}: {e}");
        assert!(
            !e.contains(['\n', '\r', '\0']),
            "{text:?}: the message shows control characters raw: {e:?}"
        );
        let e = enable_refusal(addr(host, 5100), addr("10.0.0.2", 5100));
        assert!(e.contains("IPv4"), "{host:?}: {e}");
        let e = enable_refusal(addr("10.0.0.1", 5100), addr(host, 5100));
        assert!(e.contains("IPv4"), "{host:?}: {e}");
    }
}

#[test]
fn names_that_are_not_dns_names_are_refused_everywhere() {
    for host in BAD_NAMES {
        let text = format!("{host}:5100");
        let e = parse(&text).expect_err(&format!("{text:?} was accepted"));
        assert!(
            e.contains("IPv4") && !e.contains(['\n', '\r', '\0', '\t']),
            "{text:?}: {e:?}"
        );
        enable_refusal(addr(host, 5100), addr("10.0.0.2", 5100));
        enable_refusal(addr("10.0.0.1", 5100), addr(host, 5100));
    }
}

#[test]
fn valid_addresses_and_names_are_accepted_and_written_as_given() {
    for host in GOOD {
        let a = parse(&format!("{host}:5100")).unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!((a.host.as_str(), a.port), (*host, 5100));
        let done = enable(TEMPLATE, &request(a, addr("10.9.9.9", 5101))).unwrap();
        let text = String::from_utf8(done.document.render()).unwrap();
        assert!(
            text.contains(&format!("\nrepmgr_site {host} 5100 db_local_site on\n")),
            "{text}"
        );
    }
    for port in ["1", "65535", "5100", "05100"] {
        let a = parse(&format!("10.0.0.1:{port}")).unwrap_or_else(|e| panic!("{port}: {e}"));
        assert_eq!(a.port, port.parse::<u16>().unwrap());
    }
}

#[test]
fn ports_outside_1_to_65535_or_not_numbers_are_refused() {
    for port in [
        "0",
        "00",
        "65536",
        "70000",
        "-1",
        "+5100",
        "",
        " 5100",
        "5100 ",
        "51 00",
        "abc",
        "5100a",
        "0x10",
        "5e3",
        "٥١٠٠",
        "99999999999999999999",
    ] {
        let text = format!("10.0.0.1:{port}");
        let e = parse(&text).expect_err(&format!("{text:?} was accepted"));
        assert!(e.contains("1 to 65535"), "{text:?}: {e}");
    }
    let e = enable_refusal(addr("10.0.0.1", 0), addr("10.0.0.2", 5100));
    assert!(e.contains("1 to 65535"), "{e}");
    let e = enable_refusal(addr("10.0.0.1", 5100), addr("10.0.0.2", 0));
    assert!(e.contains("1 to 65535"), "{e}");
}

#[test]
fn ipv6_in_any_spelling_is_refused_with_the_vendors_advice() {
    for text in IPV6 {
        let e = parse(text).expect_err(&format!("{text:?} was accepted"));
        assert!(
            e.contains("IPv6") && e.contains("IPv4") && e.contains("vendor"),
            "{text:?}: {e}"
        );
    }
    for host in ["::1", "[::1]", "fe80::1%eth0", "2001:db8::1"] {
        let e = enable_refusal(addr(host, 5100), addr("10.0.0.2", 5100));
        assert!(e.contains("IPv6") && e.contains("vendor"), "{host}: {e}");
    }
}

#[test]
fn the_local_site_given_as_remote_is_refused_in_every_spelling() {
    for (local, remote) in [
        ("127.0.0.1:5100", "127.0.0.1:5100"),
        ("10.0.0.1:5100", "10.0.0.1:05100"),
        ("ttmaster:5100", "ttmaster:5100"),
        ("TTMaster:5100", "ttmaster:5100"),
        ("tt-master.Example.COM:6000", "TT-MASTER.example.com:6000"),
    ] {
        let e = enable_refusal(parse(local).unwrap(), parse(remote).unwrap());
        assert!(e.contains("same site"), "{local} / {remote}: {e}");
    }
    for (local, remote) in [
        ("127.0.0.1:5100", "127.0.0.1:5101"),
        ("127.0.0.1:5100", "127.0.0.2:5100"),
        ("ttmaster:5100", "ttreplicant:5100"),
    ] {
        enable(
            TEMPLATE,
            &request(parse(local).unwrap(), parse(remote).unwrap()),
        )
        .unwrap_or_else(|e| panic!("{local} / {remote}: {e}"));
    }
}

#[test]
fn the_same_remote_site_twice_is_refused() {
    let two_remotes = "#rep_set_priority 1\n#repmgr_site a 1 db_local_site on\n#repmgr_site b 2\n#repmgr_site c 3\n";
    let req = EnableRequest {
        role: Role::Master,
        local: addr("10.0.0.1", 5100),
        remotes: vec![addr("10.0.0.2", 5100), addr("10.0.0.2", 5100)],
        switch: false,
    };
    let e = enable(two_remotes.as_bytes(), &req)
        .unwrap_err()
        .to_string();
    assert!(e.contains("same site"), "{e}");
}
