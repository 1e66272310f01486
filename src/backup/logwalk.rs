//! Reading a Berkeley DB 5.3 log file record by record, as the library does, to prove that the
//! log a top-up copied is readable and continuous without replaying the whole backup.
//!
//! A log file is a chain of records, each with a 12-byte header (non-encrypted environments):
//! `prev` (the offset of the record before it; in a file's first record, the offset of the last
//! record of the file before), `len` (the record's length, header included), and a 4-byte
//! checksum: the hash `h = h * 33 + byte` over the record's body, XORed with `prev ^ len`. A
//! header of zeros, or the end of the file, ends the records; Berkeley DB zero-fills the rest of
//! a pre-sized file.

use std::io::{self, Read};
use std::path::Path;

/// The size of a record header in a non-encrypted environment.
const HDR: u32 = 12;

/// What walking one log file found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Walk {
    /// Records read, the file's header record included.
    pub records: u64,
    /// The `prev` of the file's first record: the offset of the previous file's last record.
    pub first_prev: u32,
    /// The offset of the file's last record.
    pub last: u32,
    /// Where the records end (the rest of the file, if any, is zeros).
    pub end: u64,
    /// Bytes read (the whole file).
    pub read: u64,
    /// BLAKE3 of the whole file, from the same read.
    pub blake3: blake3::Hash,
}

/// Reads `r` fully into `buf`, hashing it; false at a clean end of input before any byte.
fn fill(r: &mut impl Read, buf: &mut [u8], hasher: &mut blake3::Hasher) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    hasher.update(&buf[..got]);
    Ok(got)
}

/// Walks every record of the log file at `path`, checking each record's checksum and that each
/// record's `prev` names the record before it, and that only zeros follow the last record.
/// Returns why not, in words, naming the offset, when the file is not such a log.
pub fn walk(path: &Path) -> Result<Walk, String> {
    let io = |e: io::Error| format!("cannot be read ({e})");
    let mut f = io::BufReader::with_capacity(1 << 20, crate::atomic::open_read(path).map_err(io)?);
    let size = std::fs::metadata(path).map_err(io)?.len();
    let mut hasher = blake3::Hasher::new();
    let mut w = Walk {
        records: 0,
        first_prev: 0,
        last: 0,
        end: 0,
        read: 0,
        blake3: blake3::Hash::from_bytes([0; 32]),
    };
    let mut body = vec![0u8; 64 << 10];
    let mut hdr = [0u8; HDR as usize];
    loop {
        let got = fill(&mut f, &mut hdr, &mut hasher).map_err(io)?;
        w.read += got as u64;
        if got < hdr.len() || hdr == [0; HDR as usize] {
            if hdr[..got].iter().any(|&b| b != 0) {
                return Err(format!("ends inside a record header at offset {}", w.end));
            }
            break;
        }
        let word = |i: usize| u32::from_le_bytes(hdr[i..i + 4].try_into().expect("4 bytes"));
        let (prev, len, sum) = (word(0), word(4), word(8));
        let at = w.end;
        if len < HDR || at + u64::from(len) > size {
            return Err(format!(
                "has a record at offset {at} of length {len}, which does not fit the file: it is damaged or not a log file"
            ));
        }
        if w.records == 0 {
            w.first_prev = prev;
        } else if prev != w.last {
            return Err(format!(
                "has a record at offset {at} whose previous record is {prev}, not {}: the chain of records is broken",
                w.last
            ));
        }
        let mut h = 0u32;
        let mut left = (len - HDR) as usize;
        while left > 0 {
            let n = left.min(body.len());
            let got = fill(&mut f, &mut body[..n], &mut hasher).map_err(io)?;
            if got < n {
                return Err(format!("ends inside the record at offset {at}"));
            }
            h = body[..n]
                .iter()
                .fold(h, |h, &b| h.wrapping_mul(33).wrapping_add(u32::from(b)));
            left -= n;
        }
        if h ^ prev ^ len != sum {
            return Err(format!(
                "has a record at offset {at} whose checksum does not match its contents: it is damaged"
            ));
        }
        w.read += u64::from(len - HDR);
        w.records += 1;
        w.last = at as u32;
        w.end = at + u64::from(len);
    }
    // Only zeros may follow the records.
    let mut after = w.end + HDR as u64;
    loop {
        let got = fill(&mut f, &mut body, &mut hasher).map_err(io)?;
        if got == 0 {
            break;
        }
        if let Some(i) = body[..got].iter().position(|&b| b != 0) {
            return Err(format!(
                "has data at offset {} after its last readable record (at {}): a record is damaged",
                after.min(size) + i as u64,
                w.last
            ));
        }
        after += got as u64;
        w.read += got as u64;
    }
    w.blake3 = hasher.finalize();
    Ok(w)
}

/// Which records of one log file were looked for ([`record_starts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Starts {
    /// For each offset asked, whether a record starts there.
    pub found: Vec<bool>,
    /// Where the records end, when the walk reached their end before the last offset asked.
    pub ended: Option<u64>,
}

/// Whether records of the log file at `path` start at `offsets`, in one pass over the records'
/// headers (each gives the next record's offset), up to the last offset asked; `None` when a
/// header met on the way does not fit the file (not a log, or damaged: nothing can be said).
/// A database page's LSN names the record that last changed it, in its own environment's log:
/// one that starts no record of the master's log came from another environment.
pub fn record_starts(path: &Path, offsets: &[u32]) -> io::Result<Option<Starts>> {
    let mut f = io::BufReader::with_capacity(1 << 20, crate::atomic::open_read(path)?);
    let size = f.get_ref().metadata()?.len();
    let last = offsets.iter().copied().max().map_or(0, u64::from);
    let mut found = vec![false; offsets.len()];
    let (mut at, mut ended) = (0u64, None);
    let mut hdr = [0u8; HDR as usize];
    while at <= last {
        if at + u64::from(HDR) > size {
            ended = Some(at);
            break;
        }
        f.read_exact(&mut hdr)?;
        if hdr == [0; HDR as usize] {
            ended = Some(at);
            break;
        }
        let len = u32::from_le_bytes(hdr[4..8].try_into().expect("4 bytes"));
        if len < HDR || at + u64::from(len) > size {
            return Ok(None);
        }
        for (i, o) in offsets.iter().enumerate() {
            found[i] |= u64::from(*o) == at;
        }
        // Skipped through the buffer: the body's bytes are read from the file all the same.
        f.seek_relative(i64::from(len - HDR))?;
        super::count(u64::from(len));
        at += u64::from(len);
    }
    Ok(Some(Starts { found, ended }))
}

/// Walks the log files `paths` (consecutive log numbers, in order) and checks that they form
/// one chain: each file's first record points at the last record of the file before. Returns
/// each file's walk, or why not, naming the file.
pub fn walk_chain(paths: &[std::path::PathBuf]) -> Result<Vec<Walk>, String> {
    let mut out: Vec<Walk> = Vec::new();
    for p in paths {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let w = walk(p).map_err(|why| format!("{name} {why}"))?;
        if let Some(before) = out.last()
            && w.first_prev != before.last
        {
            return Err(format!(
                "{name} does not continue the log file before it (its first record points at offset {}, the last record there is at {}): a log file is missing or replaced",
                w.first_prev, before.last
            ));
        }
        out.push(w);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record: header (prev, len, checksum) and body.
    fn record(prev: u32, body: &[u8]) -> Vec<u8> {
        let len = HDR + body.len() as u32;
        let h = body
            .iter()
            .fold(0u32, |h, &b| h.wrapping_mul(33).wrapping_add(u32::from(b)));
        let mut v = Vec::new();
        for w in [prev, len, h ^ prev ^ len] {
            v.extend(w.to_le_bytes());
        }
        v.extend(body);
        v
    }

    /// A log file of `bodies`, its first record pointing at `first_prev`, zero-filled to `size`.
    fn log(first_prev: u32, bodies: &[&[u8]], size: usize) -> (Vec<u8>, u32) {
        let (mut v, mut prev) = (Vec::new(), first_prev);
        for b in bodies {
            let at = v.len() as u32;
            v.extend(record(prev, b));
            prev = at;
        }
        v.resize(size, 0);
        (v, prev)
    }

    #[test]
    fn a_chain_of_good_records_is_read_and_damage_is_named() {
        let d = tempfile::tempdir().unwrap();
        let (one, last) = log(0, &[b"header", b"rec\0\0", b"two"], 200);
        let (two, _) = log(last, &[b"header", &[7u8; 70_000], b"x\0"], 80_000);
        let (p1, p2) = (d.path().join("log.1"), d.path().join("log.2"));
        std::fs::write(&p1, &one).unwrap();
        std::fs::write(&p2, &two).unwrap();
        let ws = walk_chain(&[p1.clone(), p2.clone()]).unwrap();
        assert_eq!(ws[0].records, 3);
        assert_eq!(ws[1].read, 80_000);
        assert_eq!(ws[1].blake3, blake3::hash(&two));
        // Out of order, or a file missing in between: the chain is broken.
        let err = walk_chain(&[p2.clone(), p1.clone()]).unwrap_err();
        assert!(err.contains("does not continue"), "{err}");
        for (at, says) in [(14, "checksum"), (150, "after its last readable record")] {
            let mut bad = one.clone();
            bad[at] ^= 1;
            std::fs::write(&p1, &bad).unwrap();
            let err = walk_chain(std::slice::from_ref(&p1)).unwrap_err();
            assert!(
                err.contains(says) && err.starts_with("log.1"),
                "{at}: {err}"
            );
        }
        let mut bad = one.clone();
        bad[4] = 0xff; // the first record's length
        std::fs::write(&p1, &bad).unwrap();
        assert!(walk(&p1).unwrap_err().contains("does not fit"));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 200, ..Default::default() })]

        /// Any bytes where a log file is expected: a walk says why not (never a panic), and a
        /// record search answers or says it cannot. A good log with one byte changed, cut
        /// short or with bytes spliced in is found damaged, or still a chain of records.
        #[test]
        fn any_bytes_are_walked_or_refused_and_a_good_log_is_read_whole(
            bodies in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40), 1..8),
            zeros in 0usize..300,
            change in 0u8..4,
            at in proptest::prelude::any::<proptest::sample::Index>(),
            odd in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..24),
            asked in proptest::collection::vec(0u32..2000, 0..4),
        ) {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("log.0000000001");
            let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_slice()).collect();
            let written: usize = bodies.iter().map(|b| HDR as usize + b.len()).sum();
            let (mut bytes, _) = log(0, &refs, written + zeros);
            let starts: Vec<u32> = bodies
                .iter()
                .scan(0u32, |at, b| {
                    let here = *at;
                    *at += HDR + b.len() as u32;
                    Some(here)
                })
                .collect();
            if change == 0 {
                std::fs::write(&p, &bytes).unwrap();
                let w = walk(&p).unwrap();
                proptest::prop_assert_eq!(w.records, bodies.len() as u64);
                proptest::prop_assert_eq!(w.end, written as u64);
                let found = record_starts(&p, &starts).unwrap().unwrap();
                proptest::prop_assert!(found.found.iter().all(|f| *f));
            }
            let i = at.index(bytes.len());
            match change {
                1 => bytes[i] ^= 0x5a,
                2 => bytes.truncate(i),
                3 => {
                    bytes.splice(i..i, odd.iter().copied());
                }
                _ => bytes = odd.clone(),
            }
            std::fs::write(&p, &bytes).unwrap();
            if let Err(why) = walk(&p) {
                proptest::prop_assert!(!why.is_empty());
            }
            let _ = record_starts(&p, &asked);
            let _ = record_starts(&p, &starts);
        }
    }
}
