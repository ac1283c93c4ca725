//! Length-prefixed message framing: the header formats (`'!I'`, `'<H'`, ...), encoding a
//! length, and finding complete frames in a byte buffer. Pure logic shared by the socket
//! loops (`recv_frame`, `FrameStream`), `FrameDecoder` and the server's connections.
//!
//! No length read off the wire is trusted: a frame longer than the caller's `max_size` is an
//! error before any memory is reserved for it.

// NOTE: the consumers (socket loops, FrameDecoder, server) land in their own modules next.
#![allow(dead_code)]

use std::fmt;

/// A frame header: one unsigned integer in a `struct` format with a single code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    size: usize,
    big_endian: bool,
}

/// Why a header format was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadHeader(pub String);

impl fmt::Display for BadHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A frame whose declared length exceeds the allowed maximum.
#[derive(Debug, PartialEq, Eq)]
pub struct FrameTooLarge {
    pub declared: u64,
    pub max_size: usize,
}

impl fmt::Display for FrameTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "frame of {} bytes exceeds max_size ({} bytes)",
            self.declared, self.max_size
        )
    }
}

impl Header {
    /// Parses a header format: an optional byte-order prefix (`@ = < > !`, as in `struct`)
    /// and one unsigned integer code `B H I L Q`. `@`/no prefix means native order and
    /// native size (so `L` is 8 bytes on LP64, as `struct.calcsize('L')` says).
    pub fn parse(format: &str) -> Result<Self, BadHeader> {
        let fmt = format.trim();
        let (prefix, code) = match fmt.as_bytes() {
            [c] => (b'@', *c),
            [p, c] if b"@=<>!".contains(p) => (*p, *c),
            _ => return Err(Self::bad(format)),
        };
        let native = prefix == b'@';
        let size = match code {
            b'B' => 1,
            b'H' => 2,
            b'I' => 4,
            b'L' if native => std::mem::size_of::<libc::c_ulong>(),
            b'L' => 4,
            b'Q' => 8,
            _ => return Err(Self::bad(format)),
        };
        let big_endian = match prefix {
            b'>' | b'!' => true,
            b'<' => false,
            _ => cfg!(target_endian = "big"),
        };
        Ok(Self { size, big_endian })
    }

    fn bad(format: &str) -> BadHeader {
        BadHeader(format!(
            "unsupported frame header format {format:?}: expected one unsigned integer code \
             (B, H, I, L or Q) with an optional byte-order prefix (@, =, <, >, !)"
        ))
    }

    /// Bytes the header takes on the wire.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The largest length the header can express.
    pub fn max_len(&self) -> u64 {
        if self.size == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * self.size)) - 1
        }
    }

    /// Whether a payload of `len` bytes can be framed with this header.
    pub fn fits(&self, len: usize) -> bool {
        (len as u64) <= self.max_len()
    }

    /// Writes the header for a payload of `len` bytes into `out[..self.size()]`.
    /// The caller has checked [`Header::fits`].
    pub fn encode_into(&self, len: usize, out: &mut [u8]) {
        let len = len as u64;
        let all = if self.big_endian {
            len.to_be_bytes()
        } else {
            len.to_le_bytes()
        };
        let bytes = if self.big_endian {
            &all[8 - self.size..]
        } else {
            &all[..self.size]
        };
        out[..self.size].copy_from_slice(bytes);
    }

    /// Appends the header for a payload of `len` bytes.
    pub fn push(&self, len: usize, out: &mut Vec<u8>) {
        let at = out.len();
        out.resize(at + self.size, 0);
        self.encode_into(len, &mut out[at..]);
    }

    /// Reads a length from the first `self.size()` bytes of `buf`.
    pub fn decode(&self, buf: &[u8]) -> u64 {
        let mut all = [0u8; 8];
        if self.big_endian {
            all[8 - self.size..].copy_from_slice(&buf[..self.size]);
            u64::from_be_bytes(all)
        } else {
            all[..self.size].copy_from_slice(&buf[..self.size]);
            u64::from_le_bytes(all)
        }
    }

    /// Checks a decoded length against `max_size`, returning it as a `usize`.
    pub fn check_len(&self, declared: u64, max_size: usize) -> Result<usize, FrameTooLarge> {
        match usize::try_from(declared) {
            Ok(n) if n <= max_size => Ok(n),
            _ => Err(FrameTooLarge { declared, max_size }),
        }
    }

    /// Looks for one complete frame at the start of `buf`. Returns the payload's range in
    /// `buf` when the whole frame is there, `None` when more bytes are needed, and an error
    /// as soon as the header declares more than `max_size`.
    pub fn next_frame(
        &self,
        buf: &[u8],
        max_size: usize,
    ) -> Result<Option<std::ops::Range<usize>>, FrameTooLarge> {
        if buf.len() < self.size {
            return Ok(None);
        }
        let len = self.check_len(self.decode(buf), max_size)?;
        let end = self.size + len;
        Ok((buf.len() >= end).then_some(self.size..end))
    }
}

/// An incremental decoder: bytes go in with [`FrameDecoder::feed`], complete payloads come
/// out in order. Consumed bytes are dropped lazily so feeding stays amortised O(n).
#[derive(Debug)]
pub struct FrameDecoder {
    header: Header,
    max_size: usize,
    buf: Vec<u8>,
    start: usize,
}

impl FrameDecoder {
    pub fn new(header: Header, max_size: usize) -> Self {
        Self {
            header,
            max_size,
            buf: Vec::new(),
            start: 0,
        }
    }

    pub fn header(&self) -> Header {
        self.header
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// Bytes held that do not yet form a complete frame (or were not taken yet).
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(data);
    }

    /// The next complete payload, if any. After an error the decoder is poisoned: the
    /// stream's framing is lost, so the caller must stop reading it.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameTooLarge> {
        let pending = &self.buf[self.start..];
        match self.header.next_frame(pending, self.max_size)? {
            Some(range) => {
                let (a, b) = (self.start + range.start, self.start + range.end);
                self.start = b;
                Ok(Some(&self.buf[a..b]))
            }
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_formats() {
        assert_eq!(Header::parse("!I").unwrap().size(), 4);
        assert_eq!(Header::parse(">Q").unwrap().max_len(), u64::MAX);
        assert_eq!(Header::parse("<H").unwrap().max_len(), 0xffff);
        assert_eq!(Header::parse("B").unwrap().size(), 1);
        assert_eq!(Header::parse("!L").unwrap().size(), 4);
        assert_eq!(
            Header::parse("L").unwrap().size(),
            std::mem::size_of::<libc::c_ulong>()
        );
        for bad in ["", "!", "!i", "!II", "2I", "x", "!f", "?"] {
            assert!(Header::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn encode_decode_round_trip() {
        for fmt in ["!B", "!H", "!I", "!Q", "<H", "<I", "<Q", "=I", "@Q"] {
            let h = Header::parse(fmt).unwrap();
            let n = (h.max_len().min(1 << 40)) as usize;
            let mut v = Vec::new();
            h.push(n, &mut v);
            assert_eq!(v.len(), h.size());
            assert_eq!(h.decode(&v), n as u64);
        }
        let mut v = Vec::new();
        Header::parse("!I").unwrap().push(0x01020304, &mut v);
        assert_eq!(v, [1, 2, 3, 4]);
        let mut v = Vec::new();
        Header::parse("<I").unwrap().push(0x01020304, &mut v);
        assert_eq!(v, [4, 3, 2, 1]);
    }

    #[test]
    fn decoder_splits_and_joins() {
        let h = Header::parse("!H").unwrap();
        let mut wire = Vec::new();
        for payload in [&b"hello"[..], b"", b"world!"] {
            h.push(payload.len(), &mut wire);
            wire.extend_from_slice(payload);
        }
        for chunk in 1..wire.len() {
            let mut d = FrameDecoder::new(h, 100);
            let mut got: Vec<Vec<u8>> = Vec::new();
            for piece in wire.chunks(chunk) {
                d.feed(piece);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f.to_vec());
                }
            }
            assert_eq!(got, vec![b"hello".to_vec(), vec![], b"world!".to_vec()]);
            assert!(d.pending().is_empty());
        }
    }

    #[test]
    fn oversized_frame_is_refused_before_buffering() {
        let h = Header::parse("!Q").unwrap();
        let mut d = FrameDecoder::new(h, 16);
        d.feed(&u64::MAX.to_be_bytes());
        assert_eq!(
            d.next_frame(),
            Err(FrameTooLarge {
                declared: u64::MAX,
                max_size: 16
            })
        );
    }
}
