//! A flood of bad requests does not flood the log: the real binary, headless, refuses
//! 2,000 unauthenticated requests and writes a handful of lines about them, the last
//! saying how many were left out.

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::SECRET;
use common::headless::{self, Headless, empty_config};

#[test]
fn two_thousand_refusals_write_a_few_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cmd = headless::command(&dir.path().join("data"), &empty_config(dir.path()), SECRET);
    let mut server = Headless::spawn(cmd, true);
    let banner = server.wait_for_line("ws://");
    let url = headless::ws_url(&banner);
    let addr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .expect("host:port")
        .to_string();
    // Keep-alive: one connection, many refused requests.
    let mut s = std::net::TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let request = format!(
        "POST /v1/opamp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\n\
         Content-Length: 0\r\n\r\n"
    );
    let mut answered = 0;
    let mut buf = vec![0u8; 64 << 10];
    let mut seen = String::new();
    for _ in 0..2_000 {
        s.write_all(request.as_bytes()).expect("send");
        // Read until this answer's end (a short body with a Content-Length).
        loop {
            let n = s.read(&mut buf).expect("answer");
            assert!(n > 0, "the server closed the connection");
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            let done = seen.matches("HTTP/1.1 401").count();
            if done > answered && seen.ends_with("Secret-Key <key>'") {
                answered = done;
                break;
            }
        }
        if seen.len() > 1 << 20 {
            seen.clear();
            answered = 0;
        }
    }
    drop(s);
    std::thread::sleep(Duration::from_millis(500));
    let (status, out) = server.stop();
    assert!(status.success(), "{out}");
    let lines: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("refused an OpAMP request"))
        .collect();
    assert!(
        !lines.is_empty() && lines.len() <= 10,
        "{} lines about refusals:\n{}",
        lines.len(),
        lines.join("\n")
    );
}
