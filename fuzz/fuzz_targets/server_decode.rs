//! The stream server's per-connection decoder (`raw`, `frame`, `line`) over a stream read
//! in arbitrary pieces, with the buffer compacted between reads the way the server does.
//!
//! Input: byte 0 picks the framing (and a frame header, or a 1-4 byte line delimiter taken
//! from the input), bytes 1..3 `max_size`, a count and that many chunk lengths, the stream.
//! - the messages found, re-encoded with `Framing::encode_into`, are exactly the stream's
//!   first bytes; what is left is an incomplete message;
//! - `frame` and `line` find the same messages and the same error however the stream is cut
//!   (against decoding it in one piece), `raw` hands out each read as it came;
//! - no message exceeds `max_size`, a line holds no delimiter, and `LineTooLong` comes only
//!   when the line already has more than `max_size` bytes without its delimiter;
//! - no allocation in the decoder is larger than its buffer's worth of message ranges
//!   (plus a fixed 4 KiB): none follows a declared length.
#![no_main]

use std::ops::Range;

use _native::fuzzing::framing::Header;
use _native::fuzzing::server::{decode, DecodeError, Framing};
use fuzzkit::{chunks, Counting};
use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: Counting = Counting;

/// Decodes `pieces` as the server does: append a read, decode, hand the messages out, then
/// drop the consumed bytes. Returns the messages, each read's messages and the error.
fn run(
    framing: &Framing,
    pieces: &[&[u8]],
    max_size: usize,
) -> (Vec<Vec<u8>>, Option<DecodeError>, usize) {
    let mut buf: Vec<u8> = Vec::new();
    let (mut start, mut scan) = (0usize, 0usize);
    let mut msgs = Vec::new();
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut consumed = 0usize;
    for piece in pieces {
        buf.extend_from_slice(piece);
        let before = start;
        Counting::reset();
        let res = decode(framing, &buf, &mut start, &mut scan, max_size, &mut out);
        // The ranges handed out take 16 bytes each, at most one per byte received.
        let bound = 2 * 16 * buf.len() + 4096;
        assert!(
            Counting::largest() <= bound,
            "{} bytes",
            Counting::largest()
        );
        assert!(start <= buf.len());
        for r in out.drain(..) {
            assert!(r.start >= before && r.end <= start && r.start <= r.end);
            msgs.push(buf[r].to_vec());
        }
        consumed += start - before;
        if let Err(e) = res {
            return (msgs, Some(e), consumed);
        }
        // What `settle_input` does: keep only the unconsumed bytes (`scan` is relative to
        // `start`, so it stays valid).
        buf.drain(..start);
        start = 0;
    }
    (msgs, None, consumed)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let sel = data[0];
    let max_size = usize::from(u16::from_le_bytes([data[1], data[2]]));
    let mut rest = &data[4..];
    let framing = match sel % 3 {
        0 => Framing::Raw,
        1 => {
            const FORMATS: &[&str] = &["B", "!H", "<H", "!I", "<I", "!Q", "<Q", "L"];
            Framing::Frame(Header::parse(FORMATS[usize::from(sel / 3) % FORMATS.len()]).unwrap())
        }
        _ => {
            let n = (usize::from(sel / 3) % 4 + 1).min(rest.len());
            if n == 0 {
                return;
            }
            let d = rest[..n].to_vec().into_boxed_slice();
            rest = &rest[n..];
            Framing::Line(d)
        }
    };
    let ncuts = usize::from(data[3]).min(rest.len());
    let (cuts, stream) = rest.split_at(ncuts);
    let pieces = chunks(stream, cuts);

    let (msgs, err, consumed) = run(&framing, &pieces, max_size);

    let mut again = Vec::new();
    for m in &msgs {
        assert!(m.len() <= max_size || matches!(framing, Framing::Raw));
        framing.encode_into(m, &mut again).unwrap();
    }
    assert_eq!(again.len(), consumed);
    assert_eq!(
        &stream[..consumed],
        &again[..],
        "messages do not re-encode to the stream"
    );
    let left = &stream[consumed..];

    match &framing {
        Framing::Raw => {
            let nonempty: Vec<&[u8]> = pieces.iter().copied().filter(|p| !p.is_empty()).collect();
            assert_eq!(msgs.len(), nonempty.len());
            assert!(err.is_none() && left.is_empty());
        }
        Framing::Frame(h) => {
            let (whole, werr, _) = run(&framing, &[stream], max_size);
            assert_eq!(
                (&msgs, &err),
                (&whole, &werr),
                "frames depend on the chunking"
            );
            match &err {
                None => {
                    if left.len() >= h.size() {
                        let declared = h.decode(left);
                        assert!(declared <= max_size as u64);
                        assert!(((left.len() - h.size()) as u64) < declared);
                    }
                }
                Some(DecodeError::FrameTooLarge(e)) => {
                    assert_eq!(e.declared, h.decode(left));
                    assert!(e.declared > max_size as u64);
                }
                Some(other) => panic!("{other:?} from frame decoding"),
            }
        }
        Framing::Line(d) => {
            let (whole, werr, _) = run(&framing, &[stream], max_size);
            assert_eq!(
                (&msgs, &err),
                (&whole, &werr),
                "lines depend on the chunking"
            );
            let first = left.windows(d.len()).position(|w| w == &d[..]);
            for m in &msgs {
                assert!(!m.windows(d.len()).any(|w| w == &d[..]));
            }
            match &err {
                None => assert!(first.is_none(), "a complete line was left"),
                Some(DecodeError::LineTooLong { max_size: m }) => {
                    assert_eq!(*m, max_size);
                    // Longer than max_size whether or not its delimiter has begun.
                    let line = first.unwrap_or(left.len().saturating_sub(d.len() - 1));
                    assert!(line > max_size, "line of {line} bytes refused");
                }
                Some(other) => panic!("{other:?} from line decoding"),
            }
        }
    }
});
