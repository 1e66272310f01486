//! The head of a Berkeley DB database file: the first bytes of its metadata page, read without
//! Berkeley DB. They say whether a file is a database at all (its magic number), which database
//! it is (its file id: a database and its replica share it, a `cp` copy has it too, a
//! `db_load` makes a new one), and the log position of the metadata page's last change (its
//! LSN). Used by the database comparison (`check`, `databases-missing`) and by the backup's
//! test of whether a database was replaced outside the log.

use std::io::Read;
use std::path::Path;

/// Bytes of a metadata page read: up to the end of the file id.
pub const HEAD_LEN: usize = 72;

/// What a database file's first page says of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// The file id (bytes 52..72): fixed when the database was made.
    pub file_id: [u8; 20],
    /// The LSN of the metadata page's last change (bytes 0..8: log file, offset), in the byte
    /// order the magic number shows.
    pub lsn: (u32, u32),
}

impl Head {
    /// The file id in lowercase hexadecimal, as the database comparison names it.
    pub fn file_id_hex(&self) -> String {
        self.file_id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The metadata magic numbers tt-ha knows: btree, hash, queue, heap.
const MAGICS: [u32; 4] = [0x053162, 0x061561, 0x042253, 0x074582];

/// The head of a database from its first bytes; `None` when they are fewer than [`HEAD_LEN`]
/// or carry no metadata magic number at byte 12 (in either byte order).
pub fn parse(bytes: &[u8]) -> Option<Head> {
    let b = bytes.get(..HEAD_LEN)?;
    let word = |i: usize| [b[i], b[i + 1], b[i + 2], b[i + 3]];
    let little = if MAGICS.contains(&u32::from_le_bytes(word(12))) {
        true
    } else if MAGICS.contains(&u32::from_be_bytes(word(12))) {
        false
    } else {
        return None;
    };
    let num = |i: usize| {
        if little {
            u32::from_le_bytes(word(i))
        } else {
            u32::from_be_bytes(word(i))
        }
    };
    let mut file_id = [0u8; 20];
    file_id.copy_from_slice(&b[52..72]);
    Some(Head {
        file_id,
        lsn: (num(0), num(4)),
    })
}

/// The head of the database file `r` reads from its start; `Ok(None)` when it is no database
/// (or shorter than a head).
pub fn read(r: &mut impl Read) -> std::io::Result<Option<Head>> {
    let mut head = [0u8; HEAD_LEN];
    match r.read_exact(&mut head) {
        Ok(()) => Ok(parse(&head)),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(None),
        Err(e) => Err(e),
    }
}

/// The head of the regular file at `path` ([`crate::fsinfo::open_regular`]: never waits on a
/// FIFO).
pub fn of_file(path: &Path) -> std::io::Result<Option<Head>> {
    read(&mut crate::fsinfo::open_regular(path)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(magic: [u8; 4], lsn: [u8; 8], id: u8) -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..8].copy_from_slice(&lsn);
        b[12..16].copy_from_slice(&magic);
        b[52..72].fill(id);
        b
    }

    /// Each magic number in either byte order is a database, its LSN read in that order; any
    /// other bytes, or too few, are none (never a panic: every length up to the head).
    #[test]
    fn reads_the_magic_lsn_and_file_id_in_the_files_byte_order() {
        let le = page(0x061561u32.to_le_bytes(), [2, 0, 0, 0, 0x10, 0, 0, 0], 9);
        let h = parse(&le).unwrap();
        assert_eq!(h.lsn, (2, 16));
        assert_eq!(h.file_id_hex(), "09".repeat(20));
        let be = page(0x053162u32.to_be_bytes(), [0, 0, 0, 2, 0, 0, 0, 0x10], 1);
        assert_eq!(parse(&be).unwrap().lsn, (2, 16));
        for m in MAGICS {
            assert!(parse(&page(m.to_le_bytes(), [0; 8], 0)).is_some());
        }
        assert_eq!(parse(&page(*b"\0\0\0\0", [0; 8], 1)), None);
        for n in 0..HEAD_LEN {
            assert_eq!(parse(&le[..n]), None);
            assert_eq!(read(&mut &le[..n]).unwrap(), None);
        }
        assert_eq!(read(&mut &le[..]).unwrap(), Some(h));
    }
}
