//! Files only their owner may read (secrets, keys, exports holding credentials), written
//! so that a crash or a full disk never leaves half of one behind.

use std::io::Write;
use std::path::Path;

/// Writes a file only its owner can read, atomically: a temp file beside it, synced, then
/// renamed over it (a failure leaves neither a half-written file nor the temp behind).
pub fn write(path: &Path, contents: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(contents.as_bytes())?;
        f.sync_all()
    });
    // A half-written secret (disk full) must not be left behind for the next start.
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}
