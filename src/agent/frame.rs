//! Framing: one JSON object per line, UTF-8, at most [`MAX_FRAME`] bytes before its line
//! break. Both sides read with a bound, so a peer that never sends a line break cannot make
//! the other grow without bound.

use super::protocol::MAX_FRAME;
use std::io::{BufRead, Write};

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer closed its side.
    #[error("the other side closed the connection")]
    Closed,
    /// A line longer than the bound.
    #[error("a frame of more than {MAX_FRAME} bytes arrived: the connection is closed")]
    TooLong,
    /// A line that is not UTF-8.
    #[error("a frame that is not UTF-8 text arrived: the connection is closed")]
    NotText,
    /// The pipe failed.
    #[error("reading the connection failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads one line (without its line break, and a `\r` before it), at most `limit` bytes.
pub fn read_line_limited(r: &mut impl BufRead, limit: usize) -> Result<String, FrameError> {
    let mut buf = Vec::new();
    loop {
        let chunk = r.fill_buf()?;
        if chunk.is_empty() {
            if buf.is_empty() {
                return Err(FrameError::Closed);
            }
            break;
        }
        match memchr::memchr(b'\n', chunk) {
            Some(i) => {
                buf.extend_from_slice(&chunk[..i]);
                r.consume(i + 1);
                break;
            }
            None => {
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                r.consume(n);
            }
        }
        if buf.len() > limit {
            return Err(FrameError::TooLong);
        }
    }
    if buf.len() > limit {
        return Err(FrameError::TooLong);
    }
    if buf.last() == Some(&b'\r') {
        buf.pop();
    }
    String::from_utf8(buf).map_err(|_| FrameError::NotText)
}

/// Reads one frame of the protocol.
pub fn read_frame(r: &mut impl BufRead) -> Result<String, FrameError> {
    read_line_limited(r, MAX_FRAME)
}

/// Writes one frame (`json` must hold no line break: serde_json's compact output never does)
/// and flushes it, so the peer sees it at once.
pub fn write_frame(w: &mut impl Write, json: &str) -> std::io::Result<()> {
    debug_assert!(!json.contains('\n'));
    let mut line = Vec::with_capacity(json.len() + 1);
    line.extend_from_slice(json.as_bytes());
    line.push(b'\n');
    w.write_all(&line)?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_one_by_one_and_bounded() {
        let mut r = std::io::Cursor::new(b"{\"a\":1}\r\n{\"b\":2}\nlast".to_vec());
        assert_eq!(read_frame(&mut r).unwrap(), "{\"a\":1}");
        assert_eq!(read_frame(&mut r).unwrap(), "{\"b\":2}");
        assert_eq!(read_frame(&mut r).unwrap(), "last");
        assert!(matches!(read_frame(&mut r), Err(FrameError::Closed)));
        let mut long = std::io::BufReader::with_capacity(8, std::io::Cursor::new(vec![b'x'; 100]));
        assert!(matches!(
            read_line_limited(&mut long, 50),
            Err(FrameError::TooLong)
        ));
        let mut bad = std::io::Cursor::new(vec![0xff, b'\n']);
        assert!(matches!(read_frame(&mut bad), Err(FrameError::NotText)));
    }

    proptest::proptest! {
        /// Time stamps cross the wire as JSON numbers: each is read back as the very number
        /// written (serde_json's `float_roundtrip`; without it the parse may be a bit off).
        #[test]
        fn a_number_is_read_back_exactly(x in proptest::num::f64::NORMAL | proptest::num::f64::ZERO | proptest::num::f64::SUBNORMAL, stamp in 0.0f64..4.0e9) {
            for v in [x, stamp, (stamp * 1e6).round() / 1e6] {
                let back: f64 = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
                proptest::prop_assert_eq!(back.to_bits(), v.to_bits());
            }
        }
    }
}
