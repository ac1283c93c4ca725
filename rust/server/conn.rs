//! Per-connection state of the stream server: the input buffer and the message boundaries
//! found in it, the output buffer, and the timestamps the timeouts look at. The decoding of
//! `raw`/`frame`/`line` messages is pure logic, unit-tested here.

use std::collections::VecDeque;
use std::ops::Range;
use std::os::fd::OwnedFd;
use std::sync::Arc;

use pyo3::prelude::*;

use super::shared::ConnShared;
use super::sys::SockAddr;
use super::Connection;
use crate::framing::{FrameTooLarge, Header};

/// How a byte stream is cut into messages.
#[derive(Debug, Clone)]
pub enum Framing {
    /// Every chunk as read is one message.
    Raw,
    /// Length-prefixed with a `struct`-style header.
    Frame(Header),
    /// Split on a non-empty delimiter, which is stripped.
    Line(Box<[u8]>),
}

impl Framing {
    /// Appends `data` to `out` as one message of this framing: header first for `Frame`,
    /// delimiter after for `Line`. Errors when the header cannot express the length.
    #[inline]
    pub fn encode_into(&self, data: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        match self {
            Framing::Raw => out.extend_from_slice(data),
            Framing::Frame(h) => {
                if !h.fits(data.len()) {
                    return Err(too_long(data.len(), h));
                }
                out.reserve(h.size() + data.len());
                h.push(data.len(), out);
                out.extend_from_slice(data);
            }
            Framing::Line(d) => {
                out.reserve(data.len() + d.len());
                out.extend_from_slice(data);
                out.extend_from_slice(d);
            }
        }
        Ok(())
    }
}

#[cold]
fn too_long(len: usize, h: &Header) -> String {
    format!(
        "reply of {len} bytes is too long for the frame header (at most {} bytes)",
        h.max_len()
    )
}

/// Why decoding a stream failed: its framing is lost, so the connection must close.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    FrameTooLarge(FrameTooLarge),
    LineTooLong { max_size: usize },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::FrameTooLarge(e) => e.fmt(f),
            DecodeError::LineTooLong { max_size } => write!(
                f,
                "line exceeds max_size ({max_size} bytes) without a delimiter"
            ),
        }
    }
}

/// Scans `buf[*start..]` for complete messages and appends their payload ranges (indices
/// into `buf`) to `out`, advancing `*start` past them. `*scan` carries, for line framing,
/// how many bytes after `*start` are already known not to begin a delimiter, so a long
/// line arriving in pieces is searched once, not once per piece.
pub fn decode(
    framing: &Framing,
    buf: &[u8],
    start: &mut usize,
    scan: &mut usize,
    max_size: usize,
    out: &mut Vec<Range<usize>>,
) -> Result<(), DecodeError> {
    match framing {
        Framing::Raw => {
            if buf.len() > *start {
                out.push(*start..buf.len());
                *start = buf.len();
            }
        }
        Framing::Frame(h) => {
            while let Some(r) = h
                .next_frame(&buf[*start..], max_size)
                .map_err(DecodeError::FrameTooLarge)?
            {
                out.push(*start + r.start..*start + r.end);
                *start += r.end;
            }
        }
        Framing::Line(delim) => loop {
            let from = *start + *scan;
            match find(&buf[from..], delim) {
                Some(at) => {
                    let end = from + at;
                    if end - *start > max_size {
                        return Err(DecodeError::LineTooLong { max_size });
                    }
                    out.push(*start..end);
                    *start = end + delim.len();
                    *scan = 0;
                }
                None => {
                    // A delimiter may begin in the last `len - 1` bytes and end in the next read.
                    let pending = buf.len() - *start;
                    *scan = pending.saturating_sub(delim.len() - 1);
                    if *scan > max_size {
                        return Err(DecodeError::LineTooLong { max_size });
                    }
                    break;
                }
            }
        },
    }
    Ok(())
}

/// The offset of the first occurrence of `needle` (non-empty) in `hay`: glibc's `memchr`
/// and `memmem`, which are vectorised.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if hay.len() < needle.len() {
        return None;
    }
    let p = if needle.len() == 1 {
        // SAFETY: memchr reads at most `hay.len()` bytes of a live slice.
        unsafe { libc::memchr(hay.as_ptr().cast(), i32::from(needle[0]), hay.len()) }
    } else {
        // SAFETY: memmem reads within both live slices, bounded by their lengths.
        unsafe {
            libc::memmem(
                hay.as_ptr().cast(),
                hay.len(),
                needle.as_ptr().cast(),
                needle.len(),
            )
        }
    };
    if p.is_null() {
        None
    } else {
        Some(p as usize - hay.as_ptr() as usize)
    }
}

/// What the connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading and writing.
    Open,
    /// No more reading: the output is flushed, then the socket closes (or at `deadline_ns`).
    Closing { deadline_ns: u64 },
}

/// Why a connection ended; turned into the exception `on_disconnect` receives.
#[derive(Debug)]
pub enum CloseReason {
    /// Clean end: the peer closed at a message boundary, `conn.close()`, or shutdown.
    Clean,
    /// The peer closed in the middle of a message: the bytes of it that arrived, and the
    /// whole message's size on the wire when its header said so.
    Incomplete {
        partial: Vec<u8>,
        expected: Option<u64>,
    },
    /// A socket error (`ECONNRESET`, `EPIPE`, ...).
    Os(i32),
    /// The stream broke its framing.
    Decode(DecodeError),
    /// No bytes moved for `idle_timeout`.
    Idle,
    /// A message stayed incomplete for `message_timeout`.
    SlowMessage,
    /// The handler (or `on_connect`) raised, or returned something that is not a reply.
    Handler(PyErr),
}

/// A handler call whose reply cannot be written yet: it suspended, or an earlier one did.
pub enum Flight {
    /// Running as the asyncio task with this id.
    Running(u64),
    /// Returned this reply.
    Done(Py<PyAny>),
    /// Raised.
    Failed(PyErr),
}

/// One accepted connection, owned by the loop.
pub struct Conn {
    pub fd: OwnedFd,
    pub token: u64,
    /// Received bytes; `inbuf[start..]` is not yet consumed.
    pub inbuf: Vec<u8>,
    pub start: usize,
    pub scan: usize,
    /// Complete messages found in `inbuf` by the last read, waiting for the handler;
    /// `msgs[next_msg..]` are not dispatched yet (the pipeline was full). Reading waits
    /// until they all are.
    pub msgs: Vec<Range<usize>>,
    pub next_msg: usize,
    /// Handler calls not replied to yet, in request order (`ferrosock.asyncio` only):
    /// `flights[0]` is message number `seq_base`.
    pub flights: VecDeque<Flight>,
    pub seq_base: u64,
    /// A suspended `on_connect` coroutine: messages wait for it.
    pub gated: bool,
    /// Bytes to send; `out[out_pos..]` is not yet sent.
    pub out: Vec<u8>,
    pub out_pos: usize,
    /// The epoll interest currently registered.
    pub interest: u32,
    /// Reading stopped because unsent output is above `high_water`.
    pub paused: bool,
    pub phase: Phase,
    /// The peer sent end of stream.
    pub eof: bool,
    pub last_activity_ns: u64,
    /// When the first byte of the currently incomplete message arrived.
    pub partial_since_ns: Option<u64>,
    /// Why the connection will close, once it is `Closing`.
    pub reason: Option<CloseReason>,
    pub shared: Arc<ConnShared>,
    pub py: Option<Py<Connection>>,
    pub peer: SockAddr,
    pub local: SockAddr,
    /// Already listed for a flush in this iteration.
    pub want_flush: bool,
    /// `on_connect` ran (or there is none): only then does `on_disconnect` run, so the
    /// two always pair up.
    pub announced: bool,
}

impl Conn {
    /// Bytes waiting to be sent.
    pub fn unsent(&self) -> usize {
        self.out.len() - self.out_pos
    }

    /// Drops the sent front of the output once it is at least half of it, before more is
    /// appended: amortised O(1) per byte, and the buffer never holds more than twice
    /// what is unsent.
    #[inline]
    pub fn compact_out(&mut self) {
        if self.out_pos > 0 && self.out_pos >= self.out.len() / 2 {
            self.out.drain(..self.out_pos);
            self.out_pos = 0;
        }
    }

    /// Nothing left to do before the connection may close: no output, no message waiting
    /// for a handler, no handler running.
    pub fn settled(&self) -> bool {
        self.unsent() == 0 && self.msgs.is_empty() && self.flights.is_empty()
    }

    /// Whether the loop reads this connection: open, below `high_water`, and every message
    /// of the last read dispatched.
    pub fn reading(&self) -> bool {
        self.phase == Phase::Open && !self.paused && !self.eof && self.msgs.is_empty()
    }

    /// Bytes received but not yet part of a complete message.
    pub fn pending_input(&self) -> usize {
        self.inbuf.len() - self.start
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(framing: &Framing, pieces: &[&[u8]], max: usize) -> Result<Vec<Vec<u8>>, DecodeError> {
        let mut buf = Vec::new();
        let (mut start, mut scan) = (0, 0);
        let mut got = Vec::new();
        for p in pieces {
            buf.extend_from_slice(p);
            let mut out = Vec::new();
            decode(framing, &buf, &mut start, &mut scan, max, &mut out)?;
            got.extend(out.into_iter().map(|r| buf[r].to_vec()));
            buf.drain(..start);
            start = 0;
        }
        Ok(got)
    }

    #[test]
    fn raw_is_each_chunk() {
        let got = run(&Framing::Raw, &[b"ab", b"", b"cde"], 100).unwrap();
        assert_eq!(got, vec![b"ab".to_vec(), b"cde".to_vec()]);
    }

    #[test]
    fn frames_split_and_joined() {
        let h = Header::parse("!H").unwrap();
        let f = Framing::Frame(h);
        let mut wire = Vec::new();
        for m in [&b"hello"[..], b"", b"x"] {
            f.encode_into(m, &mut wire).unwrap();
        }
        for size in 1..=wire.len() {
            let pieces: Vec<&[u8]> = wire.chunks(size).collect();
            let got = run(&f, &pieces, 100).unwrap();
            assert_eq!(
                got,
                vec![b"hello".to_vec(), vec![], b"x".to_vec()],
                "{size}"
            );
        }
    }

    #[test]
    fn oversized_frame_fails_at_its_header() {
        let f = Framing::Frame(Header::parse("!I").unwrap());
        let err = run(&f, &[&[0, 0, 1, 0]], 255).unwrap_err();
        assert!(matches!(err, DecodeError::FrameTooLarge(_)));
        assert!(run(&f, &[&[0, 0, 0, 255]], 255).unwrap().is_empty());
    }

    /// Found by fuzz/frame_decoder: a server with `max_size` near `usize::MAX` computed an
    /// inverted payload range for a header declaring nearly `2**64` bytes, and panicked.
    #[test]
    fn huge_declared_length_with_unlimited_max_size_waits() {
        let f = Framing::Frame(Header::parse("!Q").unwrap());
        assert!(run(&f, &[&[0xff; 8], b"x"], usize::MAX).unwrap().is_empty());
    }

    #[test]
    fn lines_with_multibyte_delimiter() {
        let f = Framing::Line(b"\r\n".to_vec().into_boxed_slice());
        let wire = b"one\r\n\r\nthree\r\r\n";
        for size in 1..=wire.len() {
            let pieces: Vec<&[u8]> = wire.chunks(size).collect();
            let got = run(&f, &pieces, 100).unwrap();
            assert_eq!(
                got,
                vec![b"one".to_vec(), vec![], b"three\r".to_vec()],
                "{size}"
            );
        }
    }

    #[test]
    fn long_line_is_refused_without_waiting_for_its_end() {
        let f = Framing::Line(b"\n".to_vec().into_boxed_slice());
        assert_eq!(run(&f, &[b"12345\n"], 5).unwrap(), vec![b"12345".to_vec()]);
        assert_eq!(
            run(&f, &[b"123456\n"], 5),
            Err(DecodeError::LineTooLong { max_size: 5 })
        );
        assert_eq!(
            run(&f, &[b"123", b"456"], 5),
            Err(DecodeError::LineTooLong { max_size: 5 })
        );
        // A partial two-byte delimiter at the end does not count against the line.
        let f = Framing::Line(b"\r\n".to_vec().into_boxed_slice());
        assert_eq!(
            run(&f, &[b"12345\r", b"\n"], 5).unwrap(),
            vec![b"12345".to_vec()]
        );
    }

    #[test]
    fn encode_checks_header_range() {
        let f = Framing::Frame(Header::parse("!B").unwrap());
        let mut out = Vec::new();
        assert!(f.encode_into(&[0; 255], &mut out).is_ok());
        assert!(f.encode_into(&[0; 256], &mut out).is_err());
        let mut out = Vec::new();
        Framing::Line(b"\n".to_vec().into_boxed_slice())
            .encode_into(b"hi", &mut out)
            .unwrap();
        assert_eq!(out, b"hi\n");
    }
}
