//! Length-prefixed frames: `Header` and the incremental `FrameDecoder`.
//!
//! Input: a header format picked by byte 0, `max_size` from bytes 1..5, a count and that many
//! chunk lengths, then the stream. The stream is fed in those chunks, alternately through
//! `feed` and through `spare` + `commit` (the socket loops' path), taking every complete
//! frame after each chunk.
//! - the frames taken, re-encoded with the header, are exactly the stream's first bytes,
//!   and what is still pending is exactly the rest;
//! - no payload exceeds `max_size`; an error comes only for a header that declares more
//!   than `max_size`, and sticks;
//! - no allocation is larger than twice the bytes fed so far (plus a fixed 4 KiB): memory follows what was
//!   received, never a declared length;
//! - every header encodes and decodes a length it `fits` (`encode_into` and `push` agree).
#![no_main]

use _native::fuzzing::framing::{FrameDecoder, Header};
use fuzzkit::{chunks, Counting};
use libfuzzer_sys::fuzz_target;

/// Small allocations of the harness and the standard library, whatever was fed.
const SLACK: usize = 4096;

#[global_allocator]
static ALLOC: Counting = Counting;

const FORMATS: &[&str] = &[
    "B", "H", "I", "L", "Q", "!B", "!H", "!I", "!L", "!Q", "<B", "<H", "<I", "<L", "<Q", ">H",
    ">I", ">Q", "=H", "=I", "=L", "@B", "@H", "@L", " !I ", "\t<Q\n",
];

fn check_header(h: &Header, len: u64) {
    let fits = usize::try_from(len).is_ok_and(|n| h.fits(n));
    assert_eq!(fits, usize::try_from(len).is_ok() && len <= h.max_len());
    if fits {
        let n = len as usize;
        let mut a = [0u8; 8];
        h.encode_into(n, &mut a);
        let mut b = Vec::new();
        h.push(n, &mut b);
        assert_eq!(&a[..h.size()], &b[..]);
        assert_eq!(h.decode(&b), len);
    }
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 7 {
        if let Ok(s) = std::str::from_utf8(data) {
            if let Ok(h) = Header::parse(s) {
                assert!([1, 2, 4, 8].contains(&h.size()));
                assert!(s.trim().len() <= 2);
            }
        }
        return;
    }
    let header = Header::parse(FORMATS[usize::from(data[0]) % FORMATS.len()]).unwrap();
    let raw_max = u32::from_le_bytes([data[1], data[2], data[3], data[4]]);
    let max_size = if data[5] == 0xff {
        usize::MAX
    } else {
        raw_max as usize
    };
    let ncuts = usize::from(data[6]).min(data.len() - 7);
    let cuts = &data[7..7 + ncuts];
    let stream = &data[7 + ncuts..];

    let mut words = stream.chunks_exact(8);
    for w in words.by_ref().take(4) {
        check_header(&header, u64::from_le_bytes(w.try_into().unwrap()));
    }
    check_header(&header, header.max_len());
    check_header(&header, header.max_len().wrapping_add(1));

    Counting::reset();
    let mut dec = FrameDecoder::new(header, max_size);
    let mut again = Vec::new();
    let mut failed = None;
    let mut fed = 0usize;
    for (i, chunk) in chunks(stream, cuts).into_iter().enumerate() {
        if i % 2 == 0 {
            dec.feed(chunk);
        } else {
            let spare = dec.spare(chunk.len());
            assert!(spare.len() >= chunk.len());
            for (d, s) in spare.iter_mut().zip(chunk) {
                d.write(*s);
            }
            // SAFETY: the first `chunk.len()` bytes of the spare slice were just written.
            unsafe { dec.commit(chunk.len()) };
        }
        fed += chunk.len();
        loop {
            match dec.next_frame() {
                Ok(Some(payload)) => {
                    assert!(payload.len() <= max_size);
                    header.push(payload.len(), &mut again);
                    again.extend_from_slice(payload);
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        assert!(
            Counting::largest() <= 2 * fed + SLACK,
            "allocated {} bytes after {fed} bytes fed",
            Counting::largest()
        );
        if failed.is_some() {
            break;
        }
    }
    let consumed = again.len();
    assert_eq!(
        &stream[..consumed],
        &again[..],
        "frames do not re-encode to the stream"
    );
    let pending = dec.pending();
    assert_eq!(pending, &stream[consumed..consumed + pending.len()]);
    match failed {
        None => {
            assert_eq!(consumed + pending.len(), stream.len());
            if pending.len() >= header.size() {
                let declared = header.decode(pending);
                assert_eq!(
                    dec.front_frame_len(),
                    Some(declared.saturating_add(header.size() as u64))
                );
                // Incomplete, and within max_size (or the decoder would have said so).
                assert!(declared <= max_size as u64);
                assert!((pending.len() - header.size()) < declared as usize);
            } else {
                assert_eq!(dec.front_frame_len(), None);
            }
        }
        Some(e) => {
            assert_eq!(e.max_size, max_size);
            assert!(e.declared > max_size as u64);
            assert_eq!(e.declared, header.decode(pending));
            assert_eq!(dec.next_frame(), Err(e), "the error does not stick");
        }
    }
});
