//! `ttfs-sim export`: a server's Volumes as CSV, as a site exports them with TapeTrack's own
//! tools (one line per Volume: `volume,customer,media,status,slot`, a heading first), read
//! with `STREAM` on the client port. For `tt-ha verify --source/--against` and its benchmark.

use anyhow::Context;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::net::TcpStream;

/// The exported columns after `volume`: words of each Volume's value.
const COLUMNS: [&str; 4] = ["customer", "media", "status", "slot"];

/// Writes every Volume of the server at `address:port` to stdout as CSV.
pub fn run(address: &str, port: u16) -> anyhow::Result<()> {
    let stream = TcpStream::connect((address, port))
        .with_context(|| format!("connecting to {address}:{port}"))?;
    let mut w = stream.try_clone()?;
    writeln!(w, "STREAM")?;
    let out = std::io::stdout();
    let mut out = BufWriter::with_capacity(256 * 1024, out.lock());
    writeln!(out, "volume,{}", COLUMNS.join(","))?;
    for line in BufReader::with_capacity(256 * 1024, stream).lines() {
        let line = line?;
        if let Some(n) = line.strip_prefix("END ") {
            out.flush()?;
            eprintln!("exported {n} volumes from {address}:{port}");
            return Ok(());
        }
        anyhow::ensure!(!line.starts_with("ERR "), "{address}:{port}: {line}");
        let mut parts = line.splitn(3, ' ');
        let (_scope, volume, value) = (parts.next(), parts.next().unwrap_or(""), parts.next());
        let words: Vec<(&str, &str)> = value
            .unwrap_or("")
            .split(' ')
            .filter_map(|w| w.split_once('='))
            .collect();
        write!(out, "{volume}")?;
        for c in COLUMNS {
            let v = words.iter().find(|(n, _)| *n == c).map_or("", |(_, v)| v);
            write!(out, ",{v}")?;
        }
        out.write_all(b"\n")?;
    }
    anyhow::bail!("{address}:{port} closed the connection before the end of the stream")
}
