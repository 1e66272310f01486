//! Replication site addresses (`HOST:PORT`): the one rule for what tt-ha writes as a site's host
//! and port in DB_CONFIG.
//!
//! The same checks serve every way an address comes in: `--local`/`--remote` of
//! `tt-ha dbconfig enable` (through [`SiteAddr`]'s `FromStr`), `address` in `tt-ha.toml`
//! ([`check_host`], from `config`), and [`crate::dbconfig::enable`] itself, which checks whatever
//! [`SiteAddr`] it is given (a struct literal included) before it writes a token.
//!
//! The rule:
//! - A host is an IPv4 address (four decimal numbers 0–255, no leading zeros, not `0.0.0.0`, the
//!   broadcast address or a multicast one) or a DNS host name (ASCII letters, digits, hyphens and
//!   dots; parts of 1–63 characters that neither start nor end with a hyphen; at most 253
//!   characters). Anything else could shift the tokens of a DB_CONFIG line (a space, a tab), cut
//!   it short (`#`), or be read by the resolver as something else (`010.0.0.1` is octal to
//!   `inet_aton`, `1.2.3` is `1.2.0.3`, `0x7f000001` is `127.0.0.1`).
//! - A host without letters is an IPv4 attempt and must be a valid IPv4 address; a name whose last
//!   part is a number, or whose every part is a number, is refused for the same reason.
//! - IPv6 (any host with `:`) is refused: the vendor advises IPv4 in DB_CONFIG.
//! - A port is 1–65535, written in decimal digits only.
//! - Two sites are the same site when their ports are equal and their hosts are equal ignoring
//!   ASCII case (DNS names are case-insensitive; a valid IPv4 address has one spelling only).
//!   Names are not resolved: a name and an IPv4 address are never taken for the same site here.

use std::net::Ipv4Addr;

/// A replication site address as written in DB_CONFIG: host and port.
///
/// The fields are public for reading; build one with `parse` or [`SiteAddr::new`], which check
/// it. [`crate::dbconfig::enable`] checks every address again, so a struct literal cannot slip an
/// unchecked host into DB_CONFIG either.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteAddr {
    /// IPv4 address (advised) or host name.
    pub host: String,
    /// TCP port of the replication listener.
    pub port: u16,
}

/// What kind of host a checked host is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// A literal IPv4 address, as the vendor advises.
    Ipv4(Ipv4Addr),
    /// A DNS host name (accepted with a warning).
    Name,
}

/// Why an address was refused. Each message shows the text (control characters escaped), says
/// what is wrong with it and what to write instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddrError {
    /// No `:PORT`.
    #[error(
        "`{}` is not HOST:PORT: give the server's IPv4 address and its replication port, for example 192.168.1.10:5100",
        shown(.text)
    )]
    NotHostPort {
        /// What was given.
        text: String,
    },
    /// An IPv6 literal, in any spelling.
    #[error(
        "`{}` is an IPv6 address: the vendor advises IPv4 addresses in DB_CONFIG, because replication over IPv6 breaks the link. Give the server's IPv4 address, for example 192.168.1.10",
        shown(.text)
    )]
    Ipv6 {
        /// What was given.
        text: String,
    },
    /// An attempt at an IPv4 address that is not one.
    #[error(
        "`{}` is not a valid IPv4 address: {why}. Write four numbers from 0 to 255 separated by dots, for example 192.168.1.10",
        shown(.host)
    )]
    Ipv4 {
        /// The host given.
        host: String,
        /// What is wrong with it.
        why: String,
    },
    /// Neither an IPv4 address nor a valid DNS host name.
    #[error(
        "`{}` is neither an IPv4 address nor a valid host name: {why}. Give the server's IPv4 address, for example 192.168.1.10 (a host name may hold only letters, digits, hyphens and dots)",
        shown(.host)
    )]
    Name {
        /// The host given.
        host: String,
        /// What is wrong with it.
        why: String,
    },
    /// A port outside 1–65535 or not a number.
    #[error(
        "`{}` is not a port: {why}. Give the replication port as a number from 1 to 65535, for example 5100",
        shown(.text)
    )]
    Port {
        /// The port as given.
        text: String,
        /// What is wrong with it.
        why: String,
    },
}

impl SiteAddr {
    /// A checked site address.
    pub fn new(host: &str, port: u16) -> Result<SiteAddr, AddrError> {
        let addr = SiteAddr {
            host: host.to_string(),
            port,
        };
        addr.check()?;
        Ok(addr)
    }

    /// Checks the host and port against the rule (for a value built as a struct literal).
    pub fn check(&self) -> Result<HostKind, AddrError> {
        let kind = check_host(&self.host)?;
        if self.port == 0 {
            return Err(AddrError::Port {
                text: "0".into(),
                why: port_zero(),
            });
        }
        Ok(kind)
    }

    /// True when the host is a literal IPv4 address, as the vendor advises.
    pub fn is_ipv4(&self) -> bool {
        self.host.parse::<Ipv4Addr>().is_ok()
    }

    /// True when both name the same site: same port, same host ignoring ASCII case. Names are
    /// not resolved (see the module's documentation).
    pub fn same_site(&self, other: &SiteAddr) -> bool {
        self.port == other.port && self.host.eq_ignore_ascii_case(&other.host)
    }
}

impl std::fmt::Display for SiteAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", shown(&self.host), self.port)
    }
}

impl std::str::FromStr for SiteAddr {
    type Err = String;

    /// Parses and checks `HOST:PORT`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_site(s).map_err(|e| e.to_string())
    }
}

/// `HOST:PORT`, checked; the typed error behind `FromStr`.
pub fn parse_site(s: &str) -> Result<SiteAddr, AddrError> {
    // Two colons can only be IPv6 (`::1`, `[::1]:5100`, `fe80::1%eth0`): say so rather than
    // complain about whatever the last colon leaves.
    if s.matches(':').count() >= 2 {
        return Err(AddrError::Ipv6 { text: s.into() });
    }
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| AddrError::NotHostPort { text: s.into() })?;
    check_host(host)?;
    let port = parse_port(port)?;
    Ok(SiteAddr {
        host: host.to_string(),
        port,
    })
}

/// Checks a host against the rule (see the module's documentation): an IPv4 address or a DNS
/// host name; never IPv6, never anything that could shift a DB_CONFIG line's tokens.
pub fn check_host(host: &str) -> Result<HostKind, AddrError> {
    if host.is_empty() {
        return Err(AddrError::Name {
            host: host.into(),
            why: "it is empty".into(),
        });
    }
    if host.contains(':') {
        if let Ok(with_port) = host.parse::<std::net::SocketAddrV4>() {
            return Err(AddrError::Ipv4 {
                host: host.into(),
                why: format!(
                    "it carries a port (`:{}`); give the address alone and the port separately",
                    with_port.port()
                ),
            });
        }
        return Err(AddrError::Ipv6 { text: host.into() });
    }
    if host.chars().any(|c| c.is_ascii_alphabetic()) {
        check_name(host).map(|()| HostKind::Name)
    } else {
        check_ipv4(host).map(HostKind::Ipv4)
    }
}

/// A host without letters: it must be a dotted quad of decimal numbers 0–255.
fn check_ipv4(host: &str) -> Result<Ipv4Addr, AddrError> {
    let bad = |why: String| AddrError::Ipv4 {
        host: host.into(),
        why,
    };
    if let Some((pos, c)) = first_char_outside(host, |c| c.is_ascii_digit() || c == '.') {
        return Err(bad(format!("character {pos} is {}", describe(c))));
    }
    let parts: Vec<&str> = host.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(bad(
            "it has an empty part (two dots in a row, or a dot at the start or end)".into(),
        ));
    }
    if parts.len() != 4 {
        return Err(bad(format!(
            "it has {} number{}, an IPv4 address has 4",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        )));
    }
    let mut octets = [0u8; 4];
    for (octet, part) in octets.iter_mut().zip(&parts) {
        if part.len() > 1 && part.starts_with('0') {
            let plain = part.trim_start_matches('0');
            return Err(bad(format!(
                "`{part}` has a leading zero, which the resolver may read as octal; write {}",
                if plain.is_empty() { "0" } else { plain }
            )));
        }
        *octet = match part.parse::<u8>() {
            Ok(v) => v,
            Err(_) => return Err(bad(format!("`{part}` is greater than 255"))),
        };
    }
    let ip = Ipv4Addr::from(octets);
    let unusable = if ip.is_unspecified() {
        Some("0.0.0.0 means \"any address\"")
    } else if ip.is_broadcast() {
        Some("it is the broadcast address")
    } else if ip.is_multicast() {
        Some("it is a multicast address")
    } else {
        None
    };
    match unusable {
        Some(why) => Err(bad(format!("{why}, not a server's address"))),
        None => Ok(ip),
    }
}

/// A host with letters: it must be a DNS host name the resolver cannot take for a number.
fn check_name(host: &str) -> Result<(), AddrError> {
    let bad = |why: String| AddrError::Name {
        host: host.into(),
        why,
    };
    if let Some((pos, c)) =
        first_char_outside(host, |c| c.is_ascii_alphanumeric() || "-.".contains(c))
    {
        let idn = if c.is_ascii() {
            ""
        } else {
            "; an international name must be written in its xn-- form"
        };
        return Err(bad(format!("character {pos} is {}{idn}", describe(c))));
    }
    if host.len() > 253 {
        return Err(bad(format!(
            "it has {} characters, a host name at most 253",
            host.len()
        )));
    }
    let labels: Vec<&str> = host.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(bad(
                "it has an empty part (two dots in a row, or a dot at the start or end)".into(),
            ));
        }
        if label.len() > 63 {
            return Err(bad(format!(
                "the part `{label}` has {} characters, at most 63 are allowed",
                label.len()
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad(format!(
                "the part `{label}` starts or ends with a hyphen"
            )));
        }
    }
    let last = labels[labels.len() - 1];
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!(
            "its last part `{last}` is a number, so it is no host name (and no IPv4 address)"
        )));
    }
    if labels.iter().all(|l| is_c_number(l)) {
        return Err(bad(
            "the resolver reads it as a number (a hexadecimal IPv4 spelling), not as a name".into(),
        ));
    }
    Ok(())
}

/// True for a part `inet_aton` reads as a number: decimal digits, or `0x` and hex digits.
fn is_c_number(label: &str) -> bool {
    match label
        .strip_prefix("0x")
        .or_else(|| label.strip_prefix("0X"))
    {
        Some(hex) => hex.bytes().all(|b| b.is_ascii_hexdigit()),
        None => label.bytes().all(|b| b.is_ascii_digit()),
    }
}

/// A port: decimal digits only, 1–65535 (leading zeros allowed: the value is unambiguous and
/// DB_CONFIG gets it written plainly).
fn parse_port(text: &str) -> Result<u16, AddrError> {
    let bad = |why: String| AddrError::Port {
        text: text.into(),
        why,
    };
    if text.is_empty() {
        return Err(bad("it is empty".into()));
    }
    if let Some((pos, c)) = first_char_outside(text, |c| c.is_ascii_digit()) {
        return Err(bad(format!(
            "character {pos} is {}, a port is written in digits only",
            describe(c)
        )));
    }
    let digits = text.trim_start_matches('0');
    match digits.parse::<u16>() {
        _ if digits.is_empty() => Err(bad(port_zero())),
        Ok(p) => Ok(p),
        Err(_) => Err(bad("it is greater than 65535".into())),
    }
}

fn port_zero() -> String {
    "0 is not a port a server can listen on".into()
}

/// The first character (1-based position) not allowed by `ok`.
fn first_char_outside(s: &str, ok: impl Fn(char) -> bool) -> Option<(usize, char)> {
    s.chars()
        .enumerate()
        .find(|(_, c)| !ok(*c))
        .map(|(i, c)| (i + 1, c))
}

/// A character in words, for messages.
fn describe(c: char) -> String {
    match c {
        ' ' => "a space, which would split the DB_CONFIG line into other tokens".into(),
        '\t' => "a tab, which would split the DB_CONFIG line into other tokens".into(),
        '\n' | '\r' => "a line break".into(),
        '#' => "`#`, which starts a comment in DB_CONFIG".into(),
        '_' => "`_`, which host names cannot hold (a hyphen can)".into(),
        '[' | ']' => {
            "a bracket; brackets are for IPv6 addresses, which DB_CONFIG should not use".into()
        }
        c if c.is_control() => format!("the control character {}", shown(&c.to_string())),
        c if !c.is_ascii() => format!(
            "the non-ASCII character `{}` (U+{:04X})",
            shown(&c.to_string()),
            c as u32
        ),
        c => format!("`{c}`"),
    }
}

/// Text for messages: shown by the one escaping rule of [`crate::display`] (controls and
/// invisible characters as `\xNN` / `\u{…}`, everything else as is).
pub fn shown(s: &str) -> String {
    crate::display::escape_bytes(s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host with a space or `#` would shift the site line's tokens or cut it short (mutation
    /// testing of the old `||` showed nothing checked this).
    #[test]
    fn spaces_and_hash_in_the_host_are_refused() {
        for s in [
            "10.0.0.1 x:5100",
            "10.0.0.1\tx:5100",
            "10.0.0.1#x:5100",
            "#:5100",
            "x #:5100",
        ] {
            assert!(s.parse::<SiteAddr>().is_err(), "{s:?} was accepted");
        }
    }

    #[test]
    fn each_refusal_says_why() {
        let why = |s: &str| s.parse::<SiteAddr>().unwrap_err();
        assert!(why("999.1.1.1:1").contains("`999` is greater than 255"));
        assert!(why("1.2.3:1").contains("it has 3 numbers"));
        assert!(
            why("010.0.0.1:1").contains("leading zero") && why("010.0.0.1:1").contains("write 10")
        );
        assert!(why("1.2.3.4.:1").contains("empty part"));
        assert!(why("+1.2.3.4:1").contains("character 1 is `+`"));
        assert!(why("10.0.0.1 x:1").contains("character 9 is a space"));
        assert!(why("a#b:1").contains("`#`, which starts a comment"));
        assert!(why("a\u{7}b:1").contains("\\x07") && !why("a\u{7}b:1").contains('\u{7}'));
        assert!(why("a\nb:1").contains("`a\\x0ab`"));
        assert!(why("münchen:1").contains("xn--"));
        assert!(why("host.123:1").contains("last part `123` is a number"));
        assert!(why("0x7f000001:1").contains("reads it as a number"));
        assert!(why("0.0.0.0:1").contains("any address"));
        assert!(why("10.0.0.1:0").contains("0 is not a port"));
        assert!(why("10.0.0.1:65536").contains("greater than 65535"));
        assert!(why("10.0.0.1:-1").contains("character 1 is `-`"));
        assert!(why("10.0.0.1:").contains("it is empty"));
        assert!(why("10.0.0.1").contains("not HOST:PORT"));
        assert!(why("[::1]:5100").contains("IPv6"));
    }

    #[test]
    fn config_style_hosts() {
        assert_eq!(
            check_host("10.0.0.1"),
            Ok(HostKind::Ipv4(Ipv4Addr::new(10, 0, 0, 1)))
        );
        assert_eq!(check_host("tt-master"), Ok(HostKind::Name));
        let e = check_host("10.0.0.1:5100").unwrap_err().to_string();
        assert!(e.contains("carries a port"), "{e}");
        let e = check_host("::1").unwrap_err().to_string();
        assert!(e.contains("IPv6"), "{e}");
        let long = format!("{}.example", "a".repeat(64));
        assert!(
            check_host(&long)
                .unwrap_err()
                .to_string()
                .contains("at most 63")
        );
        let long = ["abcdefghij"; 26].join(".");
        assert!(
            check_host(&long)
                .unwrap_err()
                .to_string()
                .contains("at most 253")
        );
    }

    #[test]
    fn same_site_ignores_case_and_nothing_else() {
        let a = |s: &str| s.parse::<SiteAddr>().unwrap();
        assert!(a("TTHost:5100").same_site(&a("tthost:5100")));
        assert!(a("10.0.0.1:5100").same_site(&a("10.0.0.1:005100")));
        assert!(!a("10.0.0.1:5100").same_site(&a("10.0.0.1:5101")));
        assert!(!a("10.0.0.1:5100").same_site(&a("10.0.0.2:5100")));
        assert!(!a("localhost:5100").same_site(&a("127.0.0.1:5100")));
    }
}
