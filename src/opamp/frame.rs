//! OpAMP's WebSocket framing and instance-uid forms.
//!
//! Every WebSocket message is `varint(header) ++ protobuf`, with the header always 0 today.
//! Pre-v0.7 clients sent no header; a protobuf message can never start with 0x00 (field
//! number 0 is invalid), so a first byte other than 0 identifies such a legacy frame.

use crate::fleet::AgentId;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("the frame header varint is not terminated within 10 bytes")]
    MalformedHeader,
    #[error("the frame header is {0}; only 0 is defined by OpAMP")]
    NonZeroHeader(u64),
}

/// Returns the protobuf payload of a WebSocket message.
pub fn decode_ws_payload(frame: &[u8]) -> Result<&[u8], FrameError> {
    match frame.first() {
        None => Ok(frame),          // an empty message is a valid (empty) AgentToServer
        Some(0) => Ok(&frame[1..]), // the common case: header 0 in one byte
        Some(b) if b & 0x80 == 0 => Ok(frame), // legacy headerless frame
        Some(_) => {
            // A multi-byte varint: decode it to report it precisely. A header that encodes
            // 0 in several bytes (0x80 0x00) is legal varint but still header 0.
            let (value, len) = read_varint(frame).ok_or(FrameError::MalformedHeader)?;
            if value != 0 {
                return Err(FrameError::NonZeroHeader(value));
            }
            Ok(&frame[len..])
        }
    }
}

/// Prefixes an encoded ServerToAgent with the 0x00 header.
pub fn encode_ws_frame(payload_len: usize, write: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload_len + 1);
    out.push(0);
    write(&mut out);
    out
}

fn read_varint(buf: &[u8]) -> Option<(u64, usize)> {
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UidError {
    #[error("instance_uid is empty")]
    Empty,
    #[error("instance_uid has {0} bytes; expected 16 (or a 26-character legacy ULID)")]
    BadLength(usize),
    #[error("instance_uid looks like a legacy ULID but is not valid Crockford base32")]
    BadUlid,
}

/// Accepts the 16-byte form and the legacy 26-character ULID text form.
pub fn parse_instance_uid(raw: &[u8]) -> Result<AgentId, UidError> {
    match raw.len() {
        0 => Err(UidError::Empty),
        16 => {
            let mut id = [0u8; 16];
            id.copy_from_slice(raw);
            Ok(AgentId(id))
        }
        26 => parse_ulid(raw).map(AgentId).ok_or(UidError::BadUlid),
        n => Err(UidError::BadLength(n)),
    }
}

/// Decodes a ULID's 26 Crockford base32 characters into its 128 bits.
fn parse_ulid(text: &[u8]) -> Option<[u8; 16]> {
    // The first character carries only 3 bits (26 * 5 = 130 bits).
    if crockford_value(text[0])? > 7 {
        return None;
    }
    let mut value: u128 = 0;
    for &c in text {
        value = (value << 5) | u128::from(crockford_value(c)?);
    }
    Some(value.to_be_bytes())
}

fn crockford_value(c: u8) -> Option<u8> {
    let c = c.to_ascii_uppercase();
    let v = match c {
        b'0'..=b'9' => c - b'0',
        b'O' => 0,
        b'I' | b'L' => 1,
        b'A'..=b'H' => c - b'A' + 10,
        b'J' | b'K' => c - b'J' + 18,
        b'M' | b'N' => c - b'M' + 20,
        b'P'..=b'T' => c - b'P' + 22,
        b'V'..=b'Z' => c - b'V' + 27,
        _ => return None,
    };
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_zero_is_stripped_and_legacy_frames_pass_through() {
        assert_eq!(decode_ws_payload(&[0, 0x0a, 0x01]), Ok(&[0x0a, 0x01][..]));
        assert_eq!(decode_ws_payload(&[0x0a, 0x01]), Ok(&[0x0a, 0x01][..]));
        assert_eq!(decode_ws_payload(&[]), Ok(&[][..]));
        // 0 encoded in two bytes is still header 0
        assert_eq!(decode_ws_payload(&[0x80, 0x00, 0x0a]), Ok(&[0x0a][..]));
    }

    #[test]
    fn non_zero_and_unterminated_headers_are_malformed() {
        assert_eq!(
            decode_ws_payload(&[0x81, 0x01, 0x0a]),
            Err(FrameError::NonZeroHeader(129))
        );
        assert_eq!(
            decode_ws_payload(&[0xff; 11]),
            Err(FrameError::MalformedHeader)
        );
        assert_eq!(decode_ws_payload(&[0x80]), Err(FrameError::MalformedHeader));
    }

    #[test]
    fn legacy_ulid_maps_to_its_128_bits() {
        // 01ARZ3NDEKTSV4RRFFQ69G5FAV is the ULID spec's example value.
        let id = parse_instance_uid(b"01ARZ3NDEKTSV4RRFFQ69G5FAV").unwrap();
        assert_eq!(id.to_string(), "01563e3a-b5d3-d676-4c61-efb99302bd5b");
        // lower case is accepted as Crockford allows
        assert_eq!(parse_instance_uid(b"01arz3ndektsv4rrffq69g5fav"), Ok(id));
        assert_eq!(
            parse_instance_uid(b"81ARZ3NDEKTSV4RRFFQ69G5FAV"),
            Err(UidError::BadUlid)
        );
        assert_eq!(
            parse_instance_uid(b"01ARZ3NDEKTSV4RRFFQ69G5FA!"),
            Err(UidError::BadUlid)
        );
    }

    #[test]
    fn other_lengths_are_refused() {
        assert_eq!(parse_instance_uid(b""), Err(UidError::Empty));
        assert_eq!(parse_instance_uid(&[1; 8]), Err(UidError::BadLength(8)));
        assert_eq!(parse_instance_uid(&[7; 16]), Ok(AgentId([7; 16])));
    }
}
