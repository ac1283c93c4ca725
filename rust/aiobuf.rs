//! The byte buffers behind `ferrosock.asyncio`'s streams: a receive buffer that cuts
//! length-prefixed frames and serves `asyncio.StreamReader`'s byte-level reads, and a send
//! buffer that collects the frames written during one event-loop iteration so they leave in
//! one `transport.write`.
//!
//! Pure buffer logic first (`RecvBuf`), the PyO3 classes on top. The event-loop side
//! (waiters, flow control, transports) stays in Python, in `_aiostreams.py`.

use std::sync::Mutex;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::buffer::ByteView;
use crate::errors::frame_error;
use crate::framing::{FrameTooLarge, Header};

/// Received bytes not yet returned to the reader. Bytes taken from the front are dropped
/// lazily (a moving `start`), so taking many small frames stays O(total).
#[derive(Debug, Default)]
pub struct RecvBuf {
    data: Vec<u8>,
    start: usize,
}

/// Capacity above which an emptied buffer lets its memory go.
const SHRINK_ABOVE: usize = 1 << 20;

impl RecvBuf {
    pub fn pending(&self) -> &[u8] {
        &self.data[self.start..]
    }

    pub fn len(&self) -> usize {
        self.data.len() - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends received bytes; returns how many are held now.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        if self.start > 0 && self.start >= self.data.len() / 2 {
            self.data.drain(..self.start);
            self.start = 0;
        }
        self.data.extend_from_slice(bytes);
        self.len()
    }

    /// Drops `n` bytes (at most all) from the front.
    pub fn consume(&mut self, n: usize) {
        self.start += n.min(self.len());
        if self.start == self.data.len() {
            self.clear();
        }
    }

    pub fn clear(&mut self) {
        self.start = 0;
        if self.data.capacity() > SHRINK_ABOVE {
            // A big read went through: do not keep its memory for the small ones.
            self.data = Vec::new();
        } else {
            self.data.clear();
        }
    }

    /// The payload range (relative to `pending()`) of the complete frame at the front.
    pub fn front_frame(
        &self,
        header: &Header,
        max_size: usize,
    ) -> Result<Option<std::ops::Range<usize>>, FrameTooLarge> {
        header.next_frame(self.pending(), max_size)
    }

    /// Position of the first `sep` in `pending()` at or after `from`.
    pub fn find(&self, sep: &[u8], from: usize) -> Option<usize> {
        let hay = self.pending().get(from..)?;
        if sep.is_empty() {
            return Some(from);
        }
        let first = sep[0];
        let last_start = hay.len().checked_sub(sep.len())?;
        let mut i = 0;
        while i <= last_start {
            match hay[i..=last_start].iter().position(|&b| b == first) {
                None => return None,
                Some(p) => {
                    let at = i + p;
                    if &hay[at..at + sep.len()] == sep {
                        return Some(from + at);
                    }
                    i = at + 1;
                }
            }
        }
        None
    }
}

// ---------------------------------------------------------------------------------------
// Python layer
// ---------------------------------------------------------------------------------------

fn header_arg(format: &str) -> PyResult<Header> {
    Header::parse(format).map_err(|e| PyValueError::new_err(e.0))
}

fn non_negative(n: i64, what: &str) -> PyResult<usize> {
    usize::try_from(n).map_err(|_| PyValueError::new_err(format!("{what} must not be negative")))
}

/// Runs `f` on the buffer behind `lock`. The buffers are used from one event loop and never
/// release the GIL, so contention means two threads share one stream: a bug worth an
/// exception rather than a wait.
fn locked<T, R>(lock: &Mutex<T>, f: impl FnOnce(&mut T) -> R) -> PyResult<R> {
    match lock.try_lock() {
        Ok(mut inner) => Ok(f(&mut inner)),
        Err(std::sync::TryLockError::Poisoned(p)) => Ok(f(&mut p.into_inner())),
        Err(std::sync::TryLockError::WouldBlock) => Err(PyRuntimeError::new_err(
            "stream buffer used from two threads at once",
        )),
    }
}

/// The receive buffer of `ferrosock.asyncio.StreamReader`: `feed` from `data_received`,
/// then either whole frames (`pop_frame`) or bytes (`take`, `find`, ...).
#[pyclass(frozen, module = "ferrosock._native", name = "StreamBuffer")]
pub struct PyStreamBuffer {
    header: Header,
    format: String,
    max_size: usize,
    inner: Mutex<RecvBuf>,
}

impl PyStreamBuffer {
    fn with<R>(&self, f: impl FnOnce(&mut RecvBuf) -> R) -> PyResult<R> {
        locked(&self.inner, f)
    }

    fn too_large(&self, py: Python<'_>, err: FrameTooLarge) -> PyErr {
        frame_error(py, err.to_string())
    }
}

#[pymethods]
impl PyStreamBuffer {
    #[new]
    #[pyo3(signature = (header, max_size))]
    fn new(header: &str, max_size: i64) -> PyResult<Self> {
        Ok(Self {
            header: header_arg(header)?,
            format: header.to_owned(),
            max_size: non_negative(max_size, "max_size")?,
            inner: Mutex::new(RecvBuf::default()),
        })
    }

    /// Appends `data`; returns the number of bytes held.
    fn feed(&self, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let view = ByteView::readable(data)?;
        self.with(|b| b.feed(view.as_slice()))
    }

    fn __len__(&self) -> PyResult<usize> {
        self.with(|b| b.len())
    }

    /// The payload of the complete frame at the front, removed from the buffer, or `None`.
    /// A declared length over `max_size` raises `FrameError` and removes nothing.
    fn pop_frame<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let hdr = self.header;
        self.with(|b| match b.front_frame(&hdr, self.max_size) {
            Ok(Some(range)) => {
                let frame = PyBytes::new(py, &b.pending()[range.clone()]);
                b.consume(range.end);
                Ok(Some(frame))
            }
            Ok(None) => Ok(None),
            Err(e) => Err(self.too_large(py, e)),
        })?
    }

    /// Checks the frame at the front once its header is in: `FrameError` if it declares
    /// more than `max_size`. Returns the number of bytes the whole frame takes, or `None`
    /// while its header is incomplete.
    fn front_frame_len(&self, py: Python<'_>) -> PyResult<Option<usize>> {
        let hdr = self.header;
        self.with(|b| {
            let pending = b.pending();
            if pending.len() < hdr.size() {
                return Ok(None);
            }
            match hdr.check_len(hdr.decode(pending), self.max_size) {
                Ok(len) => Ok(Some(hdr.size() + len)),
                Err(e) => Err(self.too_large(py, e)),
            }
        })?
    }

    /// Up to `n` bytes from the front, removed.
    fn take<'py>(&self, py: Python<'py>, n: i64) -> PyResult<Bound<'py, PyBytes>> {
        let n = non_negative(n, "n")?;
        self.with(|b| {
            let n = n.min(b.len());
            let out = PyBytes::new(py, &b.pending()[..n]);
            b.consume(n);
            out
        })
    }

    /// Every byte held, removed.
    fn take_all<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        self.with(|b| {
            let out = PyBytes::new(py, b.pending());
            b.clear();
            out
        })
    }

    /// `bytearray.find(sep, start)` over the bytes held: the index or -1.
    fn find(&self, sep: &Bound<'_, PyAny>, start: i64) -> PyResult<i64> {
        let view = ByteView::readable(sep)?;
        let start = non_negative(start, "start")?;
        self.with(|b| b.find(view.as_slice(), start).map_or(-1, |i| i as i64))
    }

    /// `bytearray.startswith(sep, start)` over the bytes held.
    fn startswith(&self, sep: &Bound<'_, PyAny>, start: i64) -> PyResult<bool> {
        let view = ByteView::readable(sep)?;
        let start = non_negative(start, "start")?;
        self.with(|b| {
            b.pending()
                .get(start..)
                .is_some_and(|rest| rest.starts_with(view.as_slice()))
        })
    }

    /// Drops `n` bytes (at most all) from the front.
    fn consume(&self, n: i64) -> PyResult<()> {
        let n = non_negative(n, "n")?;
        self.with(|b| b.consume(n))
    }

    fn clear(&self) -> PyResult<()> {
        self.with(|b| b.clear())
    }

    #[getter]
    fn max_size(&self) -> usize {
        self.max_size
    }

    #[getter]
    fn header(&self) -> &str {
        &self.format
    }

    /// Bytes the frame header takes.
    #[getter]
    fn header_size(&self) -> usize {
        self.header.size()
    }
}

/// The send side of `ferrosock.asyncio.StreamWriter`: frames written (header and payload)
/// accumulate here until the writer hands them to its transport in one `write`.
#[pyclass(frozen, module = "ferrosock._native", name = "FrameSendBuffer")]
pub struct PyFrameSendBuffer {
    header: Header,
    format: String,
    inner: Mutex<Vec<u8>>,
}

impl PyFrameSendBuffer {
    fn checked(&self, data: &Bound<'_, PyAny>) -> PyResult<ByteView> {
        let view = ByteView::readable(data)?;
        if !self.header.fits(view.len()) {
            return Err(PyValueError::new_err(format!(
                "frame of {} bytes is too long for header '{}' (at most {} bytes)",
                view.len(),
                self.format,
                self.header.max_len()
            )));
        }
        Ok(view)
    }
}

#[pymethods]
impl PyFrameSendBuffer {
    #[new]
    fn new(header: &str) -> PyResult<Self> {
        Ok(Self {
            header: header_arg(header)?,
            format: header.to_owned(),
            inner: Mutex::new(Vec::new()),
        })
    }

    /// Appends one frame; returns the number of bytes held.
    fn push(&self, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let view = self.checked(data)?;
        let hdr = self.header;
        locked(&self.inner, |out| {
            hdr.push(view.len(), out);
            out.extend_from_slice(view.as_slice());
            out.len()
        })
    }

    /// Appends a frame for each item; nothing is appended when an item is refused.
    fn push_many(&self, items: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut views = Vec::new();
        for item in items.try_iter()? {
            views.push(self.checked(&item?)?);
        }
        let hdr = self.header;
        locked(&self.inner, |out| {
            let total: usize = views.iter().map(|v| hdr.size() + v.len()).sum();
            out.reserve(total);
            for v in &views {
                hdr.push(v.len(), out);
                out.extend_from_slice(v.as_slice());
            }
            out.len()
        })
    }

    /// Every byte held, removed.
    fn take<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        locked(&self.inner, |out| {
            let bytes = PyBytes::new(py, out);
            if out.capacity() > SHRINK_ABOVE {
                *out = Vec::new();
            } else {
                out.clear();
            }
            bytes
        })
    }

    fn __len__(&self) -> PyResult<usize> {
        locked(&self.inner, |out| out.len())
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStreamBuffer>()?;
    m.add_class::<PyFrameSendBuffer>()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(h: &Header, payloads: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for p in payloads {
            h.push(p.len(), &mut out);
            out.extend_from_slice(p);
        }
        out
    }

    #[test]
    fn frames_split_and_joined_come_out_whole() {
        let h = Header::parse("!H").unwrap();
        let bytes = wire(&h, &[b"hello", b"", b"world!"]);
        for chunk in 1..=bytes.len() {
            let mut b = RecvBuf::default();
            let mut got = Vec::new();
            for piece in bytes.chunks(chunk) {
                b.feed(piece);
                while let Some(r) = b.front_frame(&h, 100).unwrap() {
                    got.push(b.pending()[r.clone()].to_vec());
                    b.consume(r.end);
                }
            }
            assert_eq!(got, [&b"hello"[..], b"", b"world!"]);
            assert_eq!(b.len(), 0);
        }
    }

    #[test]
    fn oversized_frame_is_refused_and_left_in_place() {
        let h = Header::parse("!I").unwrap();
        let mut b = RecvBuf::default();
        b.feed(&[0xff, 0xff, 0xff, 0xff, 1]);
        assert!(b.front_frame(&h, 16).is_err());
        assert_eq!(b.len(), 5);
    }

    #[test]
    fn find_matches_bytearray_find() {
        let mut b = RecvBuf::default();
        b.feed(b"xxabcabd\n");
        b.consume(2);
        assert_eq!(b.find(b"abd", 0), Some(3));
        assert_eq!(b.find(b"ab", 1), Some(3));
        assert_eq!(b.find(b"\n", 0), Some(6));
        assert_eq!(b.find(b"zz", 0), None);
        assert_eq!(b.find(b"", 4), Some(4));
        assert_eq!(b.find(b"a", 99), None);
        assert_eq!(b.find(b"abcabd\n!", 0), None);
    }

    #[test]
    fn consume_and_feed_keep_order() {
        let mut b = RecvBuf::default();
        let mut model = std::collections::VecDeque::new();
        for i in 0..200u8 {
            let chunk = [i, i.wrapping_add(1), i.wrapping_add(2)];
            b.feed(&chunk);
            model.extend(chunk);
            let n = usize::from(i % 5);
            b.consume(n);
            model.drain(..n.min(model.len()));
            assert!(b.pending().iter().eq(model.iter()));
        }
    }
}
