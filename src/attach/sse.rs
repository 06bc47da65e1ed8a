//! Reading server-sent events: `event:` and `data:` lines, a blank line ending each.

/// One event as it came: its name and its data (lines joined with `\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: String,
    pub data: String,
}

/// Bytes in, events out; an event may arrive split over any number of chunks.
#[derive(Debug, Default)]
pub struct Parser {
    pending: Vec<u8>,
}

/// A single event larger than this ends the stream (the server sends the whole fleet in
/// parts of 1,000 agents, a few megabytes each).
pub const MAX_EVENT: usize = 64 * 1024 * 1024;

impl Parser {
    /// Takes a chunk and returns the events it completes.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Event>, String> {
        self.pending.extend_from_slice(chunk);
        let mut out = Vec::new();
        while let Some(end) = find_blank_line(&self.pending) {
            let block: Vec<u8> = self.pending.drain(..end.1).collect();
            let text = String::from_utf8_lossy(&block[..end.0]);
            if let Some(e) = parse_block(&text) {
                out.push(e);
            }
        }
        if self.pending.len() > MAX_EVENT {
            return Err(format!(
                "an event of the stream is larger than {} MiB",
                MAX_EVENT >> 20
            ));
        }
        Ok(out)
    }
}

/// Where the first blank line is: (end of the block's text, end of the separator).
fn find_blank_line(b: &[u8]) -> Option<(usize, usize)> {
    let lf = memchr::memmem::find(b, b"\n\n").map(|i| (i, i + 2));
    let crlf = memchr::memmem::find(b, b"\r\n\r\n").map(|i| (i, i + 4));
    match (lf, crlf) {
        (Some(a), Some(c)) => Some(if a.0 <= c.0 { a } else { c }),
        (a, c) => a.or(c),
    }
}

fn parse_block(text: &str) -> Option<Event> {
    let (mut name, mut data) = (String::from("message"), Vec::new());
    for line in text.lines() {
        // Comments (keep-alives) start with a colon.
        if line.starts_with(':') {
            continue;
        }
        let (field, value) = line.split_once(':').unwrap_or((line, ""));
        let value = value.strip_prefix(' ').unwrap_or(value);
        match field {
            "event" => name = value.to_string(),
            "data" => data.push(value),
            _ => {}
        }
    }
    (!data.is_empty()).then(|| Event {
        name,
        data: data.join("\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_split_across_chunks_come_out_whole() {
        let mut p = Parser::default();
        let all =
            b": hello\n\nevent: full\ndata: {\"a\":1}\n\nevent: fleet\ndata: x\ndata: y\r\n\r\n";
        let mut got = Vec::new();
        for chunk in all.chunks(3) {
            got.extend(p.push(chunk).unwrap());
        }
        assert_eq!(
            got,
            [
                Event {
                    name: "full".into(),
                    data: "{\"a\":1}".into()
                },
                Event {
                    name: "fleet".into(),
                    data: "x\ny".into()
                }
            ]
        );
    }
}
