//! The receive buffer behind `ferrosock.asyncio`'s stream reader (`aiobuf.rs`): what a peer
//! sends, fed in any chunks, interleaved with the reader's frame and byte reads.
//!
//! Input: a header format picked by byte 0, `max_size` from bytes 1..5, then operations,
//! one byte each plus their operands: feed the next 0-63 bytes, consume n, find a 1-4 byte
//! separator from some offset, take the front frame, clear. A plain `Vec<u8>` is the model.
//! - after every operation the buffer holds exactly the model's bytes;
//! - `find` is the first occurrence at or after the offset (a naive search), or none;
//! - `front_frame` is `Header::next_frame` of the model: the payload range of a complete
//!   frame within `max_size`, `None` while incomplete, an error only for a declared length
//!   above `max_size`; the payload re-encoded with the header is the model's front.
#![no_main]

use _native::fuzzing::aiobuf::RecvBuf;
use _native::fuzzing::framing::Header;
use libfuzzer_sys::fuzz_target;

const FORMATS: &[&str] = &["B", "!H", "!I", "<I", ">Q", "=L", "@H", "<Q"];

fn naive_find(hay: &[u8], sep: &[u8], from: usize) -> Option<usize> {
    if from > hay.len() {
        return None;
    }
    if sep.is_empty() {
        return Some(from);
    }
    (from..=hay.len().checked_sub(sep.len())?).find(|&i| &hay[i..i + sep.len()] == sep)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let header = Header::parse(FORMATS[usize::from(data[0]) % FORMATS.len()]).unwrap();
    let max_size = u32::from_le_bytes([data[1], data[2], data[3], data[4]]) as usize % 4096;
    let mut ops = data[5..].iter().copied();
    let mut buf = RecvBuf::default();
    let mut model: Vec<u8> = Vec::new();
    while let Some(op) = ops.next() {
        match op % 5 {
            0 => {
                let n = usize::from(ops.next().unwrap_or(0) % 64);
                let chunk: Vec<u8> = ops.by_ref().take(n).collect();
                assert_eq!(buf.feed(&chunk), model.len() + chunk.len());
                model.extend_from_slice(&chunk);
            }
            1 => {
                let n = usize::from(ops.next().unwrap_or(0));
                buf.consume(n);
                model.drain(..n.min(model.len()));
            }
            2 => {
                let len = usize::from(ops.next().unwrap_or(0) % 4) + 1;
                let sep: Vec<u8> = ops.by_ref().take(len).collect();
                let from = usize::from(ops.next().unwrap_or(0)) % (model.len() + 2);
                assert_eq!(buf.find(&sep, from), naive_find(&model, &sep, from));
            }
            3 => {
                let got = buf.front_frame(&header, max_size);
                assert_eq!(got, header.next_frame(&model, max_size));
                if let Ok(Some(range)) = got {
                    assert!(range.len() <= max_size);
                    let mut framed = Vec::new();
                    header.push(range.len(), &mut framed);
                    framed.extend_from_slice(&model[range.clone()]);
                    assert_eq!(&model[..range.end], &framed[..]);
                    buf.consume(range.end);
                    model.drain(..range.end);
                }
            }
            _ => {
                buf.clear();
                model.clear();
            }
        }
        assert_eq!(buf.len(), model.len());
        assert_eq!(buf.pending(), &model[..]);
    }
});
