//! The log file the server writes while the terminal UI owns the screen: rotated by size,
//! so a long session (or a flood of refusals) cannot fill the disk. `fleetdeck.log` is
//! always the current one; the older ones are `fleetdeck.log.1` (newest) to `.N`.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Size at which the file is rotated.
pub const MAX_BYTES: u64 = 10 << 20;
/// Rotated files kept beside the current one.
pub const KEEP: usize = 3;

pub struct RotatingFile {
    path: PathBuf,
    file: File,
    written: u64,
    max_bytes: u64,
    keep: usize,
}

impl RotatingFile {
    pub fn open(path: &Path) -> io::Result<RotatingFile> {
        Self::open_with(path, MAX_BYTES, KEEP)
    }

    pub fn open_with(path: &Path, max_bytes: u64, keep: usize) -> io::Result<RotatingFile> {
        let file = append(path)?;
        let written = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            file,
            written,
            max_bytes,
            keep,
        })
    }

    fn rotated(&self, n: usize) -> PathBuf {
        PathBuf::from(format!("{}.{n}", self.path.display()))
    }

    /// `.N-1` → `.N`, …, current → `.1`, then a new current file.
    fn rotate(&mut self) -> io::Result<()> {
        self.file.flush()?;
        if self.keep == 0 {
            self.file = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&self.path)?;
        } else {
            for n in (1..self.keep).rev() {
                let from = self.rotated(n);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(n + 1))?;
                }
            }
            std::fs::rename(&self.path, self.rotated(1))?;
            self.file = append(&self.path)?;
        }
        self.written = 0;
        Ok(())
    }
}

fn append(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written > 0 && self.written + buf.len() as u64 > self.max_bytes {
            // A log line is worth more than a rotation: write on if rotating fails.
            let _ = self.rotate();
        }
        let n = self.file.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fleetdeck.log");
        let mut f = RotatingFile::open_with(&path, 100, 2).unwrap();
        for i in 0..20 {
            writeln!(f, "line {i:02} {}", "x".repeat(30)).unwrap();
        }
        f.flush().unwrap();
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 100, "current within the limit");
        assert!(size(&dir.path().join("fleetdeck.log.1")) > 0);
        assert!(size(&dir.path().join("fleetdeck.log.2")) > 0);
        assert!(
            !dir.path().join("fleetdeck.log.3").exists(),
            "only two kept"
        );
        let current = std::fs::read_to_string(&path).unwrap();
        assert!(current.contains("line 19"), "the newest lines are current");
        let newest_old = std::fs::read_to_string(dir.path().join("fleetdeck.log.1")).unwrap();
        assert!(!newest_old.contains("line 19") && newest_old.contains("line 1"));
    }
}
