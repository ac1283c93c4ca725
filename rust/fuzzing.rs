//! The pure parsers and decoders, re-exported for the fuzz targets in `fuzz/`.
//!
//! Not an API: nothing here is covered by semver, and the Python package never sees it. Each
//! item is the plain-Rust logic below a PyO3 layer, so a fuzz target can call it without an
//! interpreter.

/// `inet_aton`, `inet_pton` and `inet_ntop` (`addr.rs`).
pub mod addr {
    pub use crate::addr::v6scan::{classify, classify_scalar, parse as parse_v6_masks};
    pub use crate::addr::{
        format_ipv4, format_ipv6, ipv4_text, ipv6_text, parse_inet_aton_prefix, parse_inet_pton4,
        parse_inet_pton6, parse_inet_pton6_bytewise,
    };
}

/// The receive buffer of `ferrosock.asyncio`'s streams (`aiobuf.rs`).
pub mod aiobuf {
    pub use crate::aiobuf::RecvBuf;
}

/// Length-prefixed frames (`framing.rs`).
pub mod framing {
    pub use crate::framing::{FrameDecoder, FrameTooLarge, Header};
}

/// Kernel socket addresses and numeric host names (`sockaddr.rs`).
pub mod sockaddr {
    pub use crate::sockaddr::{decode, numeric_host, raw_bytes, Decoded, HostError, IpBytes};
}

/// The `ipaddress` core: parsing, formatting, masks, range algorithms (`ipaddr/core.rs`).
pub mod ipaddr {
    pub use crate::ipaddr::core::*;
}

/// The stream server's per-connection message decoder (`server/conn.rs`).
pub mod server {
    pub use crate::server::conn::{decode, DecodeError, Framing};
}

/// The `struct` format compiler (`structfmt/format.rs`).
pub mod structfmt {
    pub use crate::structfmt::format::{
        compile, Code, FormatError, Op, Program, Read, Step, MAX_STEPS,
    };
}
