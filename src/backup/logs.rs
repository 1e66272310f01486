//! Comparing a backup's copy of a log file with the home's log file of the same name: is the
//! home's file the same, the same records with more written after them, or something else?
//!
//! Berkeley DB appends to a log file and never rewrites a record, so a copy taken earlier is a
//! prefix of the file now. Berkeley DB 5.3 also sizes a new log file to `set_lg_max` at once,
//! zero-filled: a grown log keeps its size, and its new records overwrite zeros. The prefix that
//! must match is therefore the copy's written data, up to its last non-zero byte.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

const BLOCK: usize = 1 << 20;

/// How the home's log file relates to the backup's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogState {
    /// Byte for byte the same.
    Same,
    /// The copy's records, then more written since.
    Extended,
    /// Not an extension of the copy; why, in words.
    Differs(String),
}

/// Where the written data of a file ends: one past its last non-zero byte (0 for a file of
/// zeros). Reads backwards from the end, so only the zero fill and one block are read.
pub fn written_end(path: &Path) -> io::Result<u64> {
    let mut f = crate::atomic::open_read(path)?;
    let mut pos = f.metadata()?.len();
    let mut buf = vec![0u8; BLOCK];
    while pos > 0 {
        let n = (pos as usize).min(BLOCK);
        pos -= n as u64;
        f.seek(SeekFrom::Start(pos))?;
        f.read_exact(&mut buf[..n])?;
        super::count(n as u64);
        if let Some(i) = buf[..n].iter().rposition(|&b| b != 0) {
            return Ok(pos + i as u64 + 1);
        }
    }
    Ok(0)
}

/// Compares the backup's `copy` of a log file with the `home`'s file of that name. Reads each
/// file once, in blocks.
pub fn compare(copy: &Path, home: &Path) -> io::Result<LogState> {
    let end = written_end(copy)?;
    let copy_len = std::fs::metadata(copy)?.len();
    let mut h = crate::atomic::open_read(home)?;
    let home_len = h.metadata()?.len();
    if home_len < end {
        return Ok(LogState::Differs(format!(
            "it is shorter ({home_len} bytes) than the backup's records ({end} bytes): it was truncated or replaced"
        )));
    }
    let mut c = crate::atomic::open_read(copy)?;
    let (mut a, mut b) = (vec![0u8; BLOCK], vec![0u8; BLOCK]);
    let mut done = 0u64;
    while done < end {
        let n = ((end - done) as usize).min(BLOCK);
        c.read_exact(&mut a[..n])?;
        h.read_exact(&mut b[..n])?;
        super::count(2 * n as u64);
        if a[..n] != b[..n] {
            let at = done
                + a[..n]
                    .iter()
                    .zip(&b[..n])
                    .take_while(|(x, y)| x == y)
                    .count() as u64;
            return Ok(LogState::Differs(format!(
                "its bytes differ from the backup's copy at offset {at}: it was rewritten or replaced"
            )));
        }
        done += n as u64;
    }
    // The copy holds only zeros after `end`: the home's file is the same when it has the same
    // size and only zeros there too.
    if home_len != copy_len {
        return Ok(LogState::Extended);
    }
    while done < home_len {
        let n = ((home_len - done) as usize).min(BLOCK);
        h.read_exact(&mut b[..n])?;
        super::count(n as u64);
        if b[..n].iter().any(|&x| x != 0) {
            return Ok(LogState::Extended);
        }
        done += n as u64;
    }
    Ok(LogState::Same)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, data).unwrap();
        p
    }

    /// A log as Berkeley DB 5.3 leaves it: `records`, then zeros up to `size`.
    fn log(records: &[u8], size: usize) -> Vec<u8> {
        let mut v = records.to_vec();
        v.resize(size, 0);
        v
    }

    #[test]
    fn written_end_skips_the_zero_fill_whatever_its_length() {
        let d = tempfile::tempdir().unwrap();
        for (data, end) in [
            (vec![], 0),
            (vec![0u8; 10], 0),
            (log(b"abc", 3 * BLOCK + 17), 3),
            (log(&vec![7u8; BLOCK + 5], 2 * BLOCK), BLOCK as u64 + 5),
            (b"no fill".to_vec(), 7),
        ] {
            let p = file(d.path(), "log", &data);
            assert_eq!(written_end(&p).unwrap(), end, "{} bytes", data.len());
        }
    }

    #[test]
    fn a_log_is_same_extended_or_different() {
        let d = tempfile::tempdir().unwrap();
        // Records ending in zero bytes are records too: they must match.
        let recs = [b"rec1".as_slice(), &[1, 0, 0], b"rec2"].concat();
        let copy = file(d.path(), "copy", &log(&recs, 2 * BLOCK + 3));
        let case = |home: &[u8]| compare(&copy, &file(d.path(), "home", home)).unwrap();
        assert_eq!(case(&log(&recs, 2 * BLOCK + 3)), LogState::Same);
        // Written since, inside the pre-sized file, far past the first block.
        let mut grown = log(&recs, 2 * BLOCK + 3);
        grown[2 * BLOCK] = 9;
        assert_eq!(case(&grown), LogState::Extended);
        // Written since in a file that is not pre-sized: it grew.
        assert_eq!(
            case(&[recs.as_slice(), b"more"].concat()),
            LogState::Extended
        );
        // Same records, the fill not yet written: shorter but still the same records.
        assert_eq!(case(&recs), LogState::Extended);
        let mut changed = log(&recs, 2 * BLOCK + 3);
        changed[1] = b'X';
        assert!(matches!(case(&changed), LogState::Differs(w) if w.contains("offset 1")));
        assert!(matches!(case(b"rec1"), LogState::Differs(w) if w.contains("shorter")));
        assert!(matches!(case(b""), LogState::Differs(_)));
    }
}
