//! Length-prefixed message framing: the header formats (`'!I'`, `'<H'`, ...), encoding a
//! length, and finding complete frames in a byte buffer. Pure logic shared by the socket
//! loops (`recv_frame`, `FrameStream`), `FrameDecoder` and the server's connections.
//!
//! No length read off the wire is trusted: a frame longer than the caller's `max_size` is an
//! error before any memory is reserved for it.

use std::fmt;
use std::mem::MaybeUninit;
use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::buffer::ByteView;
use crate::errors::frame_error;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
            "unsupported frame header format '{format}': expected one unsigned integer code \
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
    #[inline(always)]
    pub fn fits(&self, len: usize) -> bool {
        // `len <= max_len()` without the branch on the 8-byte case.
        self.size >= 8 || (len as u64) >> (8 * self.size) == 0
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

    /// Appends the header for a payload of `len` bytes. The caller has checked
    /// [`Header::fits`].
    // NOTE: one fixed-size store per header size: the server frames every reply with
    // this, and the generic `encode_into` (zero-fill, then a variable-length copy) cost
    // ~100 instructions a reply where this costs ~10.
    #[inline(always)]
    pub fn push(&self, len: usize, out: &mut Vec<u8>) {
        let be = self.big_endian;
        match self.size {
            1 => out.push(len as u8),
            2 => out.extend_from_slice(&if be {
                (len as u16).to_be_bytes()
            } else {
                (len as u16).to_le_bytes()
            }),
            4 => out.extend_from_slice(&if be {
                (len as u32).to_be_bytes()
            } else {
                (len as u32).to_le_bytes()
            }),
            _ => out.extend_from_slice(&if be {
                (len as u64).to_be_bytes()
            } else {
                (len as u64).to_le_bytes()
            }),
        }
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
        // NOTE: saturating: with `max_size` near `usize::MAX` (the server takes any usize)
        // a declared length plus the header can overflow; such a frame is never complete.
        let end = self.size.saturating_add(len);
        Ok((buf.len() >= end).then_some(self.size..end))
    }
}

/// An incremental decoder: bytes go in with [`FrameDecoder::feed`] (or are read straight
/// into [`FrameDecoder::spare`]), complete payloads come out in order. Consumed bytes are
/// dropped lazily so feeding stays amortised O(n).
#[derive(Debug)]
pub struct FrameDecoder {
    header: Header,
    max_size: usize,
    buf: Vec<u8>,
    start: usize,
    failed: Option<FrameTooLarge>,
}

impl FrameDecoder {
    pub fn new(header: Header, max_size: usize) -> Self {
        Self {
            header,
            max_size,
            buf: Vec::new(),
            start: 0,
            failed: None,
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

    /// Total length (header included) of the frame at the front, once its header is in.
    pub fn front_frame_len(&self) -> Option<u64> {
        let pending = self.pending();
        (pending.len() >= self.header.size()).then(|| {
            self.header
                .decode(pending)
                .saturating_add(self.header.size() as u64)
        })
    }

    /// Drops the bytes already taken when that is cheap relative to what is kept.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// Room for at least `want` more bytes, to receive into directly; follow with
    /// [`FrameDecoder::commit`]. Memory grows with what is actually received, never with a
    /// length announced by a header.
    pub fn spare(&mut self, want: usize) -> &mut [MaybeUninit<u8>] {
        self.compact();
        if self.pending().is_empty() && self.buf.capacity() > SHRINK_ABOVE {
            // A big frame went through: do not keep its memory for the small ones.
            self.buf = Vec::new();
        }
        self.buf.reserve(want);
        self.buf.spare_capacity_mut()
    }

    /// Marks `n` bytes at the start of [`FrameDecoder::spare`] as received.
    ///
    /// # Safety
    /// The first `n` bytes of the last `spare()` slice must have been initialised, and
    /// nothing may have touched the decoder in between.
    pub unsafe fn commit(&mut self, n: usize) {
        debug_assert!(n <= self.buf.capacity() - self.buf.len());
        // SAFETY: guaranteed by the caller: those bytes of the spare capacity are written.
        unsafe { self.buf.set_len(self.buf.len() + n) };
    }

    /// The next complete payload, if any. After an error the decoder is poisoned and keeps
    /// returning it: the stream's framing is lost, so the caller must stop reading it.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameTooLarge> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        let pending = &self.buf[self.start..];
        match self.header.next_frame(pending, self.max_size) {
            Ok(Some(range)) => {
                let (a, b) = (self.start + range.start, self.start + range.end);
                self.start = b;
                Ok(Some(&self.buf[a..b]))
            }
            Ok(None) => Ok(None),
            Err(err) => {
                self.failed = Some(err.clone());
                Err(err)
            }
        }
    }
}

/// Buffer capacity above which an emptied decoder lets its memory go.
const SHRINK_ABOVE: usize = 4 << 20;

// ---------------------------------------------------------------------------------------
// Python layer: `encode_frame` and the sans-I/O decoder behind `ferrosock.framing`
// ---------------------------------------------------------------------------------------

fn header_arg(format: &str) -> PyResult<Header> {
    Header::parse(format).map_err(|e| PyValueError::new_err(e.0))
}

/// `encode_frame(data, header='!I')`: `struct.pack(header, len(data)) + data`, with a
/// `ValueError` when the header cannot express the length.
#[pyfunction]
#[pyo3(signature = (data, header = "!I"))]
fn encode_frame<'py>(data: &Bound<'py, PyAny>, header: &str) -> PyResult<Bound<'py, PyBytes>> {
    let hdr = header_arg(header)?;
    let view = ByteView::readable(data)?;
    let payload = view.as_slice();
    if !hdr.fits(payload.len()) {
        return Err(PyValueError::new_err(format!(
            "frame of {} bytes is too long for header '{header}' (at most {} bytes)",
            payload.len(),
            hdr.max_len()
        )));
    }
    let hsize = hdr.size();
    PyBytes::new_with(data.py(), hsize + payload.len(), |out| {
        hdr.encode_into(payload.len(), out);
        out[hsize..].copy_from_slice(payload);
        Ok(())
    })
}

/// The native decoder behind `ferrosock.framing.FrameDecoder`.
#[pyclass(frozen, module = "ferrosock._native", name = "FrameDecoder")]
pub struct PyFrameDecoder {
    format: String,
    inner: Mutex<FrameDecoder>,
}

impl PyFrameDecoder {
    fn with<R>(&self, f: impl FnOnce(&mut FrameDecoder) -> R) -> PyResult<R> {
        // Feeding is short and never releases the GIL, so contention means two threads
        // share one decoder: a bug worth an exception rather than a wait.
        match self.inner.try_lock() {
            Ok(mut d) => Ok(f(&mut d)),
            Err(std::sync::TryLockError::Poisoned(p)) => Ok(f(&mut p.into_inner())),
            Err(std::sync::TryLockError::WouldBlock) => Err(PyRuntimeError::new_err(
                "FrameDecoder used from two threads at once",
            )),
        }
    }
}

#[pymethods]
impl PyFrameDecoder {
    #[new]
    #[pyo3(signature = (header, max_size))]
    fn new(header: &str, max_size: i64) -> PyResult<Self> {
        let max_size = usize::try_from(max_size)
            .map_err(|_| PyValueError::new_err("max_size must not be negative"))?;
        Ok(Self {
            format: header.to_owned(),
            inner: Mutex::new(FrameDecoder::new(header_arg(header)?, max_size)),
        })
    }

    /// Appends `data` and returns every payload now complete, in order. Frames before an
    /// oversized one are returned; the `FrameError` comes on the next call (and every call
    /// after it).
    fn feed<'py>(&self, data: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyList>> {
        let py = data.py();
        let view = ByteView::readable(data)?;
        let (frames, failed) = self.with(|d| {
            d.feed(view.as_slice());
            let mut frames = Vec::new();
            let failed = loop {
                match d.next_frame() {
                    Ok(Some(f)) => frames.push(PyBytes::new(py, f)),
                    Ok(None) => break None,
                    Err(e) => break Some(e),
                }
            };
            (frames, failed)
        })?;
        match failed {
            Some(e) if frames.is_empty() => Err(frame_error(py, e.to_string())),
            _ => PyList::new(py, frames),
        }
    }

    /// Bytes fed that do not form a complete frame yet.
    #[getter]
    fn pending<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.with(|d| PyBytes::new(py, d.pending()))
    }

    #[getter]
    fn header(&self) -> &str {
        &self.format
    }

    #[getter]
    fn max_size(&self) -> PyResult<usize> {
        self.with(|d| d.max_size())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(encode_frame, m)?)?;
    m.add_class::<PyFrameDecoder>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by fuzz/frame_decoder: `size + len` overflowed for a declared length near
    /// `usize::MAX` with no effective `max_size`, and the wrapped end made an inverted range.
    #[test]
    fn huge_declared_length_with_unlimited_max_size_waits() {
        let h = Header::parse("!Q").unwrap();
        let buf = [0xff; 16];
        assert_eq!(h.next_frame(&buf, usize::MAX), Ok(None));
        let mut d = FrameDecoder::new(h, usize::MAX);
        d.feed(&buf);
        assert_eq!(d.next_frame(), Ok(None));
        assert_eq!(d.pending(), &buf);
        assert_eq!(d.front_frame_len(), Some(u64::MAX));
    }

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
    fn push_and_fits_agree_with_encode_into_and_max_len() {
        for fmt in ["!B", "<B", "!H", "<H", "!I", "<I", "!Q", "<Q", "=H", "@L"] {
            let h = Header::parse(fmt).unwrap();
            let max = h.max_len();
            for n in [
                0u64,
                1,
                0xfe,
                0xff,
                0x100,
                0xffff,
                0x1_0000,
                0xffff_ffff,
                1 << 32,
            ] {
                let n = n as usize;
                assert_eq!(h.fits(n), n as u64 <= max, "{fmt} {n}");
                if h.fits(n) {
                    let mut pushed = vec![9];
                    h.push(n, &mut pushed);
                    let mut encoded = vec![0; h.size()];
                    h.encode_into(n, &mut encoded);
                    assert_eq!(pushed[1..], encoded[..], "{fmt} {n}");
                }
            }
            assert!(h.fits(max.min(usize::MAX as u64) as usize));
        }
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
        let err = Err(FrameTooLarge {
            declared: u64::MAX,
            max_size: 16,
        });
        assert_eq!(d.next_frame(), err);
        // Poisoned: more bytes do not bring the framing back.
        d.feed(&[0; 64]);
        assert_eq!(d.next_frame(), err);
    }

    #[test]
    fn spare_and_commit_receive_in_place() {
        let h = Header::parse("!I").unwrap();
        let mut d = FrameDecoder::new(h, 1 << 20);
        let wire = [0, 0, 0, 3, b'a', b'b', b'c', 0, 0];
        let spare = d.spare(4);
        assert!(spare.len() >= 4);
        for (dst, src) in spare.iter_mut().zip(&wire[..5]) {
            dst.write(*src);
        }
        // SAFETY: five bytes of the spare capacity were written just above.
        unsafe { d.commit(5) };
        assert_eq!(d.front_frame_len(), Some(7));
        assert_eq!(d.next_frame().unwrap(), None);
        d.feed(&wire[5..]);
        assert_eq!(d.next_frame().unwrap(), Some(&b"abc"[..]));
        assert_eq!(d.pending(), &[0, 0]);
        assert_eq!(d.front_frame_len(), None);
    }
}
