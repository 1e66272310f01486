//! Copying a home's file into a backup in the kernel: `std::io::copy` between two files uses
//! `copy_file_range` on Linux (as `cp` does), so the bytes never pass through tt-ha. The copy's
//! hash is taken afterwards, from the copy itself (see `make`'s checking thread).

use crate::quarantine::{MoveError, io_err};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

/// Bytes per kernel copy call: progress is reported after each.
const CHUNK: u64 = 64 << 20;

/// Copies `from` to the new file `to` (never over an existing one) and keeps its permissions
/// and modification time; `progress(n)` after each `n` bytes copied. Returns the open copy, not
/// flushed: a backup's copy is flushed by its checking thread, while the next file is copied
/// (`make`), a scratch copy never.
pub fn copy(from: &Path, to: &Path, progress: &mut dyn FnMut(u64)) -> Result<File, MoveError> {
    let src = crate::atomic::open_read(from).map_err(io_err("read", from))?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(io_err("create", to))?;
    loop {
        let n = io::copy(&mut (&src).take(CHUNK), &mut dst).map_err(|e| {
            // Which end failed: the source is still readable when the copy's write failed.
            let action = if e.kind() == io::ErrorKind::StorageFull {
                "write"
            } else {
                "copy to"
            };
            io_err(action, to)(e)
        })?;
        if n == 0 {
            break;
        }
        progress(n);
    }
    if let Ok(meta) = src.metadata() {
        let _ = dst.set_permissions(meta.permissions());
        if let Ok(m) = meta.modified() {
            let _ = dst.set_modified(m);
        }
    }
    Ok(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_every_byte_and_never_over_a_file() {
        let d = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..(CHUNK as usize + 12345))
            .map(|i| (i % 251) as u8)
            .collect();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        std::fs::write(&a, &data).unwrap();
        let mut seen = Vec::new();
        copy(&a, &b, &mut |n| seen.push(n)).unwrap();
        assert_eq!(std::fs::read(&b).unwrap(), data);
        assert_eq!(seen, [CHUNK, 12345]);
        assert!(copy(&a, &b, &mut |_| {}).is_err());
    }
}
