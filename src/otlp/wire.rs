//! A borrowing protobuf field reader for the metrics fast path: it walks the wire format
//! without building messages, so strings and nested messages are slices of the request body.
//!
//! Message *types* still come from `opentelemetry-proto` (the JSON path, responses and the
//! tests that check this reader against prost's own decoding); field numbers here are the
//! ones in `opentelemetry/proto/metrics/v1/metrics.proto`.

use std::fmt;

/// Where and why a protobuf body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireError {
    /// Byte offset in the (decompressed) body.
    pub offset: usize,
    /// The message being read, e.g. `Metric` or `NumberDataPoint`.
    pub message: &'static str,
    pub reason: &'static str,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "protobuf body is malformed at byte {} (in {}): {}",
            self.offset, self.message, self.reason
        )
    }
}

impl std::error::Error for WireError {}

/// One field's payload.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    /// Length-delimited bytes and their absolute offset in the body.
    Len(&'a [u8], usize),
}

impl<'a> Value<'a> {
    /// The bytes of a length-delimited field, or an error naming the field.
    pub fn bytes(
        self,
        f: &Fields<'a>,
        field: &'static str,
    ) -> Result<(&'a [u8], usize), WireError> {
        match self {
            Value::Len(b, at) => Ok((b, at)),
            _ => Err(f.error_here(field)),
        }
    }

    pub fn fixed64(self, f: &Fields<'a>, field: &'static str) -> Result<u64, WireError> {
        match self {
            Value::Fixed64(v) => Ok(v),
            _ => Err(f.error_here(field)),
        }
    }

    pub fn varint(self, f: &Fields<'a>, field: &'static str) -> Result<u64, WireError> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(f.error_here(field)),
        }
    }
}

/// Iterates the fields of one message. After an error it yields nothing more.
pub struct Fields<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Absolute offset of `buf[0]` in the body, for error messages.
    base: usize,
    message: &'static str,
    /// Offset of the field last returned.
    last: usize,
}

impl<'a> Fields<'a> {
    pub fn new(buf: &'a [u8], base: usize, message: &'static str) -> Self {
        Fields {
            buf,
            pos: 0,
            base,
            message,
            last: base,
        }
    }

    fn error(&mut self, at: usize, reason: &'static str) -> WireError {
        self.pos = self.buf.len();
        WireError {
            offset: self.base + at,
            message: self.message,
            reason,
        }
    }

    /// An error for the field just returned having the wrong wire type.
    pub fn error_here(&self, field: &'static str) -> WireError {
        WireError {
            offset: self.last,
            message: self.message,
            reason: field,
        }
    }

    fn varint(&mut self) -> Result<u64, WireError> {
        let at = self.pos;
        let mut rest = &self.buf[self.pos..];
        let before = rest.len();
        match prost::encoding::decode_varint(&mut rest) {
            Ok(v) => {
                self.pos += before - rest.len();
                Ok(v)
            }
            Err(_) => Err(self.error(at, "truncated or overlong varint")),
        }
    }

    fn take(&mut self, n: usize, reason: &'static str) -> Result<&'a [u8], WireError> {
        let at = self.pos;
        match self.buf.get(at..at.saturating_add(n)) {
            Some(b) if at.checked_add(n).is_some() => {
                self.pos += n;
                Ok(b)
            }
            _ => Err(self.error(at, reason)),
        }
    }

    fn field(&mut self) -> Result<(u32, Value<'a>), WireError> {
        let at = self.pos;
        self.last = self.base + at;
        let key = self.varint()?;
        let number = u32::try_from(key >> 3).unwrap_or(0);
        if number == 0 {
            return Err(self.error(at, "field number 0 or out of range"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                let b = self.take(8, "truncated 64-bit field")?;
                Value::Fixed64(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
            }
            5 => {
                let b = self.take(4, "truncated 32-bit field")?;
                Value::Fixed32(u32::from_le_bytes(b.try_into().unwrap_or([0; 4])))
            }
            2 => {
                let len = self.varint()?;
                let start = self.pos;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                let b = self.take(len, "length runs past the end of the message")?;
                Value::Len(b, self.base + start)
            }
            3 | 4 => return Err(self.error(at, "groups are not used by OTLP")),
            _ => return Err(self.error(at, "unknown wire type")),
        };
        Ok((number, value))
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<(u32, Value<'a>), WireError>;

    fn next(&mut self) -> Option<Self::Item> {
        (self.pos < self.buf.len()).then(|| self.field())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(buf: &[u8]) -> Result<Vec<(u32, String)>, WireError> {
        Fields::new(buf, 0, "Test")
            .map(|f| f.map(|(n, v)| (n, format!("{v:?}"))))
            .collect()
    }

    #[test]
    fn reads_each_wire_type() {
        // 1: varint 150; 2: bytes "hi"; 3: fixed64 1; 4: fixed32 2
        let buf = [
            0x08, 0x96, 0x01, 0x12, 2, b'h', b'i', 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0, 0,
        ];
        let fields = all(&buf).unwrap_or_default();
        assert_eq!(fields.len(), 4);
        assert_eq!(fields[0], (1, "Varint(150)".to_string()));
        assert_eq!(fields[2], (3, "Fixed64(1)".to_string()));
        assert_eq!(fields[3], (4, "Fixed32(2)".to_string()));
    }

    #[test]
    fn truncation_is_reported_with_its_offset() {
        // Field 1 = 1, then field 2 claims 5 bytes but only 1 follows (at byte 4).
        let err = all(&[0x08, 0x01, 0x12, 5, b'h']).err();
        assert_eq!(
            err.map(|e| (e.offset, e.reason)),
            Some((4, "length runs past the end of the message"))
        );
        let err = all(&[0x08, 0xff]).err();
        assert_eq!(err.map(|e| e.reason), Some("truncated or overlong varint"));
        let err = all(&[0x0b]).err();
        assert_eq!(err.map(|e| e.reason), Some("groups are not used by OTLP"));
    }
}
