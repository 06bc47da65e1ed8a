//! The server's side of a WebSocket connection (RFC 6455), as much as OpAMP needs.
//!
//! Why not tungstenite: every idle agent is a connection held open for hours, and
//! tungstenite keeps a read buffer per connection grown to the largest message seen and
//! never shrunk (about 3 KB per agent after the first full status report). Here nothing is
//! held between messages: a read lands in a buffer on the stack of the poll that made it,
//! and only the bytes of a frame still under way are kept on the heap.
//!
//! [`Inbound`] is the frame parser, free of I/O so it can be tested and fuzzed on bytes;
//! [`WebSocket`] reads into it and writes frames. No extension is negotiated, so the
//! reserved bits must be clear; client frames must be masked, server frames are not.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};

/// Reads into a stack buffer of this size while no large frame is under way.
const STACK_READ: usize = 2048;
/// The most a single read adds to a large frame's buffer.
const LARGE_READ: usize = 64 * 1024;
/// Control frames carry at most this many bytes (RFC 6455 §5.5).
const MAX_CONTROL: usize = 125;

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// Close codes this server sends.
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    /// The agent may not stay (its credential was refused or revoked).
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const TRY_AGAIN_LATER: u16 = 1013;
}

/// A complete message (or a control frame the session must answer).
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Binary(Vec<u8>),
    /// A text message, of this many bytes: OpAMP only uses binary ones.
    Text(usize),
    /// A ping, to be answered with a pong carrying the same bytes.
    Ping(Vec<u8>),
    /// The peer closes, with its status code if it gave one.
    Close(Option<u16>),
}

#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("WebSocket protocol error: {0}")]
    Protocol(&'static str),
    #[error("a WebSocket message of {size} bytes is over the {limit}-byte limit")]
    TooBig { size: u64, limit: usize },
    #[error("the connection ended without a WebSocket close")]
    Eof,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl WsError {
    /// The close code that tells the peer what went wrong, if it should be told.
    pub fn close_code(&self) -> Option<u16> {
        match self {
            WsError::Protocol(_) => Some(close::PROTOCOL),
            WsError::TooBig { .. } => Some(close::TOO_BIG),
            WsError::Eof | WsError::Io(_) => None,
        }
    }
}

/// A frame's header, once all of it has arrived.
#[derive(Debug, Clone, Copy)]
struct Head {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    /// Bytes of header, mask included.
    len: usize,
    payload: usize,
}

/// Parses the header at the start of `buf`: `None` until all of it is there. Sizes are
/// checked as soon as they are known, so an oversized frame is refused before its bytes
/// are buffered.
fn parse_head(buf: &[u8], max_message: usize) -> Result<Option<Head>, WsError> {
    let [b0, b1, ..] = *buf else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(WsError::Protocol(
            "reserved bits set, but no extension was agreed",
        ));
    }
    let fin = b0 & 0x80 != 0;
    let opcode = b0 & 0x0F;
    let control = opcode & 0x8 != 0;
    match opcode {
        CONTINUATION | TEXT | BINARY | CLOSE | PING | PONG => {}
        _ => return Err(WsError::Protocol("unknown opcode")),
    }
    if b1 & 0x80 == 0 {
        return Err(WsError::Protocol("a client's frames must be masked"));
    }
    let (payload, mut len) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut n = [0u8; 8];
                n.copy_from_slice(b);
                let n = u64::from_be_bytes(n);
                if n >> 63 != 0 {
                    return Err(WsError::Protocol("payload length has its top bit set"));
                }
                (n, 10)
            }
            None => return Ok(None),
        },
        n => (u64::from(n), 2),
    };
    if control && (!fin || payload > MAX_CONTROL as u64) {
        return Err(WsError::Protocol(
            "control frames must be whole and at most 125 bytes",
        ));
    }
    if payload > max_message as u64 {
        return Err(WsError::TooBig {
            size: payload,
            limit: max_message,
        });
    }
    let Some(m) = buf.get(len..len + 4) else {
        return Ok(None);
    };
    let mask = [m[0], m[1], m[2], m[3]];
    len += 4;
    Ok(Some(Head {
        fin,
        opcode,
        mask,
        len,
        // Bounded by max_message above, which is a usize.
        payload: payload as usize,
    }))
}

fn unmask(bytes: &mut [u8], mask: [u8; 4]) {
    for (i, b) in bytes.iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

/// A fragmented message being put together: its payload so far and whether it is text.
#[derive(Debug)]
struct Assembling {
    message: Vec<u8>,
    text: bool,
}

/// Turns received bytes into messages. Holds no allocation between messages.
#[derive(Debug)]
pub struct Inbound {
    /// Bytes received and not yet taken: the start of the next frame, if any.
    buf: Vec<u8>,
    /// A fragmented message under way; boxed, as every idle connection carries the field.
    assembling: Option<Box<Assembling>>,
    max_message: usize,
}

impl Inbound {
    pub fn new(max_message: usize) -> Inbound {
        Inbound {
            buf: Vec::new(),
            assembling: None,
            max_message,
        }
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes still missing from the frame under way, when its header has arrived.
    fn missing(&self) -> usize {
        match parse_head(&self.buf, self.max_message) {
            Ok(Some(head)) => (head.len + head.payload).saturating_sub(self.buf.len()),
            _ => 0,
        }
    }

    /// Whether anything is held: a partial frame or part of a fragmented message.
    pub fn is_idle(&self) -> bool {
        self.buf.capacity() == 0 && self.assembling.is_none()
    }

    /// Whether the bytes so far hold a whole message that the session answers as soon as
    /// it takes it: an unfragmented data frame, a ping or a close. (Not a pong, nor a
    /// fragment: those may be taken without anything being written.)
    pub fn holds_answerable(&self) -> bool {
        match parse_head(&self.buf, self.max_message) {
            Ok(Some(head)) => {
                self.buf.len() >= head.len + head.payload
                    && self.assembling.is_none()
                    && match head.opcode {
                        BINARY | TEXT => head.fin,
                        PING | CLOSE => true,
                        _ => false,
                    }
            }
            _ => false,
        }
    }

    /// The next complete message or control frame, if the bytes so far hold one.
    pub fn next_message(&mut self) -> Result<Option<Incoming>, WsError> {
        loop {
            let Some(head) = parse_head(&self.buf, self.max_message)? else {
                return Ok(None);
            };
            let end = head.len + head.payload;
            if self.buf.len() < end {
                // Room for the rest (up to a read's worth: a header alone must not make
                // the server set aside megabytes), rather than growing by each read.
                self.buf
                    .reserve_exact((end - self.buf.len()).min(LARGE_READ));
                return Ok(None);
            }
            unmask(&mut self.buf[head.len..end], head.mask);
            let got = self.frame(head, end)?;
            if got.is_some() {
                return Ok(got);
            }
        }
    }

    /// Takes the frame occupying `..end` of the buffer.
    fn frame(&mut self, head: Head, end: usize) -> Result<Option<Incoming>, WsError> {
        match head.opcode {
            BINARY | TEXT if self.assembling.is_some() => Err(WsError::Protocol(
                "a new message began before the fragmented one ended",
            )),
            BINARY if head.fin => Ok(Some(Incoming::Binary(self.take(head.len, end)))),
            TEXT if head.fin => {
                self.discard(end);
                Ok(Some(Incoming::Text(head.payload)))
            }
            BINARY | TEXT => {
                self.assembling = Some(Box::new(Assembling {
                    message: self.take(head.len, end),
                    text: head.opcode == TEXT,
                }));
                Ok(None)
            }
            CONTINUATION => {
                let Some(assembling) = &mut self.assembling else {
                    return Err(WsError::Protocol(
                        "a continuation frame with no message to continue",
                    ));
                };
                let size = assembling.message.len() + head.payload;
                if size > self.max_message {
                    return Err(WsError::TooBig {
                        size: size as u64,
                        limit: self.max_message,
                    });
                }
                assembling
                    .message
                    .extend_from_slice(&self.buf[head.len..end]);
                self.discard(end);
                if !head.fin {
                    return Ok(None);
                }
                let Some(done) = self.assembling.take() else {
                    return Ok(None);
                };
                Ok(Some(if done.text {
                    Incoming::Text(done.message.len())
                } else {
                    Incoming::Binary(done.message)
                }))
            }
            PING => Ok(Some(Incoming::Ping(self.take(head.len, end)))),
            PONG => {
                self.discard(end);
                Ok(None)
            }
            _ => {
                let code = close_code(&self.buf[head.len..end])?;
                self.discard(end);
                Ok(Some(Incoming::Close(code)))
            }
        }
    }

    /// The payload `start..end` as its own vector; when it is all the buffer holds (the
    /// usual case) the buffer itself is handed over, so nothing stays allocated.
    fn take(&mut self, start: usize, end: usize) -> Vec<u8> {
        if end == self.buf.len() {
            let mut payload = std::mem::take(&mut self.buf);
            payload.drain(..start);
            payload
        } else {
            let payload = self.buf[start..end].to_vec();
            self.discard(end);
            payload
        }
    }

    fn discard(&mut self, end: usize) {
        if end == self.buf.len() {
            self.buf = Vec::new();
        } else {
            self.buf.drain(..end);
        }
    }
}

/// The status code of a close frame's payload, checked as RFC 6455 §7.4 asks.
fn close_code(payload: &[u8]) -> Result<Option<u16>, WsError> {
    match payload {
        [] => Ok(None),
        [_] => Err(WsError::Protocol("a close frame with a one-byte payload")),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            let valid = matches!(code, 1000..=1003 | 1007..=1011 | 3000..=4999);
            if !valid {
                return Err(WsError::Protocol(
                    "a close frame with an invalid status code",
                ));
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(WsError::Protocol("a close reason that is not UTF-8"));
            }
            Ok(Some(code))
        }
    }
}

/// A server frame header for a payload of `len` bytes (servers do not mask).
fn head(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    let used = if len < 126 {
        h[1] = len as u8;
        2
    } else if let Ok(short) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&short.to_be_bytes());
        4
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    };
    (h, used)
}

fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = frame_start(opcode, payload.len());
    out.extend_from_slice(payload);
    out
}

/// A frame's header for a payload of `len` bytes, with room for the payload after it.
fn frame_start(opcode: u8, len: usize) -> Vec<u8> {
    let (h, used) = head(opcode, len);
    let mut out = Vec::with_capacity(used + len);
    out.extend_from_slice(&h[..used]);
    out
}

/// A whole binary message as one frame, ready to write.
pub fn binary_frame(payload: &[u8]) -> Vec<u8> {
    frame(BINARY, payload)
}

/// The start of a binary frame whose `len` bytes of payload the caller appends: a message
/// is then encoded straight into the frame, not copied into it.
pub fn binary_frame_start(len: usize) -> Vec<u8> {
    frame_start(BINARY, len)
}

/// A close frame; the reason is cut to fit a control frame, at a character boundary.
pub fn close_frame(code: u16, reason: &str) -> Vec<u8> {
    let mut cut = reason.len().min(MAX_CONTROL - 2);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut payload = Vec::with_capacity(2 + cut);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..cut]);
    frame(CLOSE, &payload)
}

pub fn pong_frame(payload: &[u8]) -> Vec<u8> {
    frame(PONG, payload)
}

/// One agent's WebSocket after the upgrade.
pub struct WebSocket<S> {
    io: S,
    inbound: Inbound,
    /// Answers held back while the agent's next message is already here: they go out with
    /// the answer to the last of them, in one write. An agent that sends two messages
    /// back to back (APPLYING, then APPLIED) gets both answers in one system call instead
    /// of two, each of which costs more than the rest of the exchange. Boxed and freed
    /// once written, as every idle connection carries the field.
    #[allow(clippy::box_collection)] // 8 bytes in every idle connection instead of 24
    held: Option<Box<Vec<u8>>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocket<S> {
    pub fn new(io: S, max_message: usize) -> WebSocket<S> {
        WebSocket {
            io,
            inbound: Inbound::new(max_message),
            held: None,
        }
    }

    /// The next message. Cancel-safe: bytes read are kept until a message is complete, and
    /// nothing is written here (the caller answers pings and closes).
    pub async fn recv(&mut self) -> Result<Incoming, WsError> {
        loop {
            if let Some(incoming) = self.inbound.next_message()? {
                return Ok(incoming);
            }
            poll_fn(|cx| self.poll_fill(cx)).await?;
        }
    }

    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        let missing = self.inbound.missing();
        let got = if missing > STACK_READ {
            // A large frame under way: read straight into its reserved room.
            let buf = &mut self.inbound.buf;
            let before = buf.len();
            buf.resize(before + missing.min(LARGE_READ), 0);
            let mut read = ReadBuf::new(&mut buf[before..]);
            let polled = Pin::new(&mut self.io).poll_read(cx, &mut read);
            let got = read.filled().len();
            buf.truncate(before + got);
            ready!(polled)?;
            got
        } else {
            // The stack buffer lives only for this poll: an idle connection holds none.
            let mut stack = [0u8; STACK_READ];
            let mut read = ReadBuf::new(&mut stack);
            ready!(Pin::new(&mut self.io).poll_read(cx, &mut read))?;
            self.inbound.push(read.filled());
            read.filled().len()
        };
        if got == 0 {
            return Poll::Ready(Err(WsError::Eof));
        }
        Poll::Ready(Ok(()))
    }

    /// Writes a frame made by [`binary_frame`], [`close_frame`] or [`pong_frame`].
    ///
    /// While a whole message that will be answered is already buffered, the frame is held
    /// and written with that answer (so every message is still answered, in order).
    pub async fn send(&mut self, frame: &[u8]) -> std::io::Result<()> {
        if self.inbound.holds_answerable() {
            self.held
                .get_or_insert_with(Default::default)
                .extend_from_slice(frame);
            return Ok(());
        }
        match self.held.take() {
            Some(mut held) => {
                held.extend_from_slice(frame);
                self.io.write_all(&held).await?;
            }
            None => self.io.write_all(frame).await?,
        }
        self.io.flush().await
    }

    /// Whether nothing is held between messages.
    pub fn is_idle(&self) -> bool {
        self.inbound.is_idle()
    }

    pub fn get_ref(&self) -> &S {
        &self.io
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client frame: masked, with the given first byte (FIN + opcode).
    fn client(b0: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xFA, 0x21, 0x3D];
        let mut out = vec![b0];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        let mut body = payload.to_vec();
        unmask(&mut body, mask);
        out.extend_from_slice(&body);
        out
    }

    fn all(inbound: &mut Inbound) -> Vec<Incoming> {
        std::iter::from_fn(|| inbound.next_message().unwrap()).collect()
    }

    #[test]
    fn a_message_arriving_a_byte_at_a_time_comes_out_whole_and_nothing_is_kept() {
        let payload: Vec<u8> = (0..300u16).map(|i| i as u8).collect();
        let bytes = client(0x82, &payload);
        let mut inbound = Inbound::new(1 << 20);
        let mut got = Vec::new();
        for b in &bytes {
            inbound.push(std::slice::from_ref(b));
            got.extend(all(&mut inbound));
        }
        assert_eq!(got, vec![Incoming::Binary(payload)]);
        assert!(inbound.is_idle(), "{inbound:?}");
    }

    #[test]
    fn fragments_and_interleaved_pings_make_one_message() {
        let mut bytes = client(0x02, b"hello ");
        bytes.extend(client(0x89, b"are you there"));
        bytes.extend(client(0x00, b"wide "));
        bytes.extend(client(0x8A, b"unasked pong"));
        bytes.extend(client(0x80, b"world"));
        bytes.extend(client(0x81, "ünïcode".as_bytes()));
        bytes.extend(client(0x88, &[0x03, 0xE8, b'o', b'k']));
        let mut inbound = Inbound::new(1024);
        inbound.push(&bytes);
        assert_eq!(
            all(&mut inbound),
            vec![
                Incoming::Ping(b"are you there".to_vec()),
                Incoming::Binary(b"hello wide world".to_vec()),
                Incoming::Text("ünïcode".len()),
                Incoming::Close(Some(1000)),
            ]
        );
        assert!(inbound.is_idle());
    }

    #[test]
    fn sizes_over_the_limit_are_refused_from_the_header_alone() {
        let mut inbound = Inbound::new(100);
        // Only the header of a 70,000-byte frame: refused before any payload is buffered.
        inbound.push(&client(0x82, &vec![0; 70_000])[..14]);
        let err = inbound.next_message().unwrap_err();
        assert!(
            matches!(
                err,
                WsError::TooBig {
                    size: 70_000,
                    limit: 100
                }
            ),
            "{err}"
        );
        assert_eq!(err.close_code(), Some(1009));

        // Fragments that are each small but together too big.
        let mut inbound = Inbound::new(100);
        inbound.push(&client(0x02, &[1; 60]));
        inbound.push(&client(0x80, &[2; 60]));
        assert!(matches!(
            inbound.next_message(),
            Err(WsError::TooBig { size: 120, .. })
        ));
    }

    #[test]
    fn protocol_violations_are_named() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (vec![0x82, 0x01, 0xAA], "masked"),
            (client(0xC2, b"x"), "reserved bits"),
            (client(0x83, b"x"), "unknown opcode"),
            (client(0x09, b"x"), "control frames"),
            (client(0x89, &[0; 126]), "control frames"),
            (client(0x80, b"x"), "continuation"),
            (
                [client(0x02, b"a"), client(0x82, b"b")].concat(),
                "new message",
            ),
            (client(0x88, &[0x03]), "one-byte"),
            (client(0x88, &[0x03, 0xED]), "invalid status"),
            (client(0x88, &[0x03, 0xE8, 0xFF]), "UTF-8"),
            (
                [vec![0x82, 0xFF], vec![0x80; 8], vec![0; 4]].concat(),
                "top bit",
            ),
        ];
        for (bytes, says) in cases {
            let mut inbound = Inbound::new(1 << 20);
            inbound.push(&bytes);
            let err = loop {
                match inbound.next_message() {
                    Ok(Some(_)) => continue,
                    Ok(None) => panic!("{bytes:02x?} was accepted"),
                    Err(e) => break e,
                }
            };
            assert!(err.to_string().contains(says), "{bytes:02x?}: {err}");
            assert_eq!(err.close_code(), Some(1002));
        }
    }

    #[test]
    fn server_frames_use_the_shortest_length_form() {
        assert_eq!(binary_frame(b"hi"), vec![0x82, 2, b'h', b'i']);
        let mid = binary_frame(&[7; 300]);
        assert_eq!(&mid[..4], &[0x82, 126, 0x01, 0x2C]);
        assert_eq!(mid.len(), 304);
        let big = binary_frame(&vec![7; 70_000]);
        assert_eq!(&big[..2], &[0x82, 127]);
        assert_eq!(u64::from_be_bytes(big[2..10].try_into().unwrap()), 70_000);
        // A long reason is cut at a character boundary to fit a control frame.
        let close = close_frame(1009, &"é".repeat(100));
        assert_eq!(close[0], 0x88);
        assert!(usize::from(close[1]) <= 125);
        assert!(std::str::from_utf8(&close[4..]).is_ok());
    }

    /// A stream that keeps each write it is given, to see how answers were written.
    struct Recorder {
        input: std::io::Cursor<Vec<u8>>,
        writes: Vec<Vec<u8>>,
    }

    impl AsyncRead for Recorder {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Pin::new(&mut self.input).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            self.writes.push(buf.to_vec());
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    /// Answers each message received in `input` with `binary_frame([n])`, n counting from
    /// 1, and returns the writes made.
    async fn answer_all(input: Vec<u8>) -> Vec<Vec<u8>> {
        let io = Recorder {
            input: std::io::Cursor::new(input),
            writes: Vec::new(),
        };
        let mut ws = WebSocket::new(io, 1 << 20);
        let mut n = 0u8;
        while let Ok(incoming) = ws.recv().await {
            if matches!(incoming, Incoming::Binary(_)) {
                n += 1;
                ws.send(&binary_frame(&[n])).await.unwrap();
            }
        }
        ws.io.writes
    }

    #[tokio::test]
    async fn answers_to_messages_that_arrived_together_go_out_in_one_write_in_order() {
        let mut input = client(0x82, b"applying");
        input.extend(client(0x82, b"applied"));
        input.extend(client(0x82, b"heartbeat"));
        let writes = answer_all(input).await;
        let mut all = binary_frame(&[1]);
        all.extend(binary_frame(&[2]));
        all.extend(binary_frame(&[3]));
        assert_eq!(writes, vec![all]);
    }

    #[tokio::test]
    async fn an_answer_is_not_held_for_what_gets_no_answer_or_is_incomplete() {
        // A pong gets no answer, and a first fragment is not a message yet: waiting for
        // either would leave the answer before it unsent.
        for after in [client(0x8A, b"pong"), client(0x02, b"first half")] {
            let mut input = client(0x82, b"report");
            input.extend(&after);
            let writes = answer_all(input).await;
            assert_eq!(writes, vec![binary_frame(&[1])]);
        }
    }

    #[tokio::test]
    async fn a_large_message_is_read_into_its_own_room_and_released_after() {
        let (mut client_end, server_end) = tokio::io::duplex(4096);
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let bytes = client(0x82, &payload);
        let writer = tokio::spawn(async move {
            client_end.write_all(&bytes).await.unwrap();
            client_end
        });
        let mut ws = WebSocket::new(server_end, 1 << 20);
        assert_eq!(ws.recv().await.unwrap(), Incoming::Binary(payload));
        assert!(ws.is_idle());
        let client_end = writer.await.unwrap();
        drop(client_end);
        assert!(matches!(ws.recv().await, Err(WsError::Eof)));
    }
}
