//! Follows a log file that named appends to, rotates (`versions N size S`
//! renames it away and starts a new one) and that an operator may truncate.
//! Each `read` returns the complete lines appended since the last one.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// Largest partial line kept while waiting for its end; longer is dropped.
const MAX_LINE: usize = 64 * 1024;

pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    ino: u64,
    pos: u64,
    partial: Vec<u8>,
    chunk: Vec<u8>,
    /// Start at the end of a file found at the first open (only new lines).
    from_end: bool,
    pub rotations: u64,
    pub truncations: u64,
}

impl Follower {
    pub fn new(path: impl Into<PathBuf>, from_end: bool) -> Self {
        Self {
            path: path.into(),
            file: None,
            ino: 0,
            pos: 0,
            partial: Vec::new(),
            chunk: vec![0; 256 * 1024],
            from_end,
            rotations: 0,
            truncations: 0,
        }
    }

    fn open(&mut self) -> io::Result<bool> {
        let mut f = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // A file that appears later is all new.
                self.from_end = false;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let meta = f.metadata()?;
        self.ino = meta.ino();
        self.pos = if self.from_end { meta.len() } else { 0 };
        f.seek(SeekFrom::Start(self.pos))?;
        self.file = Some(f);
        self.from_end = false;
        Ok(true)
    }

    /// Calls `each` with every complete line appended since the last call.
    pub fn read(&mut self, mut each: impl FnMut(&str)) -> io::Result<()> {
        if self.file.is_none() && !self.open()? {
            return Ok(());
        }
        self.drain(&mut each)?;
        // Rotated (a new file at the path) or truncated (shorter than we read)?
        match std::fs::metadata(&self.path) {
            Ok(m) if m.ino() != self.ino => {
                self.rotations += 1;
                self.partial.clear();
                self.file = None;
                if self.open()? {
                    self.drain(&mut each)?;
                }
            }
            Ok(m) if m.len() < self.pos => {
                self.truncations += 1;
                self.partial.clear();
                self.pos = 0;
                if let Some(f) = self.file.as_mut() {
                    f.seek(SeekFrom::Start(0))?;
                }
                self.drain(&mut each)?;
            }
            Ok(_) => {}
            // Renamed away and not recreated yet: read the new one next time.
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.file = None,
            Err(e) => return Err(e),
        }
        Ok(())
    }

    fn drain(&mut self, each: &mut impl FnMut(&str)) -> io::Result<()> {
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        loop {
            let n = f.read(&mut self.chunk)?;
            if n == 0 {
                return Ok(());
            }
            self.pos += n as u64;
            let mut data = &self.chunk[..n];
            while let Some(i) = memchr::memchr(b'\n', data) {
                if self.partial.is_empty() {
                    emit(&data[..i], each);
                } else {
                    self.partial.extend_from_slice(&data[..i]);
                    emit(&self.partial, each);
                    self.partial.clear();
                }
                data = &data[i + 1..];
            }
            if self.partial.len() + data.len() <= MAX_LINE {
                self.partial.extend_from_slice(data);
            } else {
                self.partial.clear();
            }
        }
    }
}

fn emit(line: &[u8], each: &mut impl FnMut(&str)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if let Ok(s) = std::str::from_utf8(line) {
        each(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn lines(f: &mut Follower) -> Vec<String> {
        let mut v = Vec::new();
        f.read(|l| v.push(l.to_string())).unwrap();
        v
    }

    #[test]
    fn follows_appends_rotation_and_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("query.log");
        std::fs::write(&path, "old line\n").unwrap();
        let mut f = Follower::new(&path, true);
        assert!(lines(&mut f).is_empty(), "starts at the end");
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        write!(w, "one\ntw").unwrap();
        assert_eq!(lines(&mut f), ["one"]);
        write!(w, "o\r\n").unwrap();
        assert_eq!(lines(&mut f), ["two"], "a partial line waits for its end");
        // Rotation: the rest of the old file, then the new one from its start.
        writeln!(w, "three").unwrap();
        std::fs::rename(&path, dir.path().join("query.log.0")).unwrap();
        std::fs::write(&path, "four\n").unwrap();
        assert_eq!(lines(&mut f), ["three", "four"]);
        assert_eq!(f.rotations, 1);
        // Truncation: read again from the start.
        std::fs::write(&path, "").unwrap();
        let mut w = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        writeln!(w, "5").unwrap();
        assert_eq!(lines(&mut f), ["5"]);
        assert_eq!(f.truncations, 1);
        // A file that does not exist yet is read from its start once it appears.
        let later = dir.path().join("later.log");
        let mut f = Follower::new(&later, true);
        assert!(lines(&mut f).is_empty());
        std::fs::write(&later, "first\n").unwrap();
        assert_eq!(lines(&mut f), ["first"]);
    }
}
