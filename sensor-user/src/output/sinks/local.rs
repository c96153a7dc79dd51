//! Sinks written in place: stdout, and files with size-based rotation and retention.

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Stdout, Write},
    os::unix::fs::OpenOptionsExt as _,
    path::{Path, PathBuf},
};

use super::SinkError;

/// A file that rotates to `PATH.1`, `PATH.2`, … when it passes `max_bytes`, keeping
/// `keep` rotated files (the oldest is deleted).
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    written: u64,
    out: BufWriter<File>,
    pub rotations: u64,
}

fn open_append(path: &Path) -> Result<File, SinkError> {
    // 0600: alerts name users and processes.
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| SinkError::Open { path: path.to_path_buf(), source })
}

fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

impl RotatingFile {
    /// `max_bytes == 0` never rotates.
    pub fn open(path: &Path, max_bytes: u64, keep: u32) -> Result<Self, SinkError> {
        let f = open_append(path)?;
        let written = f.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Self { path: path.to_path_buf(), max_bytes, keep, written, out: BufWriter::new(f), rotations: 0 })
    }

    pub fn write_line(&mut self, body: &[u8]) -> Result<(), SinkError> {
        if self.max_bytes > 0 && self.written > 0 && self.written + body.len() as u64 + 1 > self.max_bytes {
            self.rotate()?;
        }
        self.out.write_all(body)?;
        self.out.write_all(b"\n")?;
        self.written += body.len() as u64 + 1;
        Ok(())
    }

    fn rotate(&mut self) -> Result<(), SinkError> {
        self.out.flush()?;
        if self.keep == 0 {
            std::fs::remove_file(&self.path)?;
        } else {
            let _ = std::fs::remove_file(numbered(&self.path, self.keep));
            for n in (1..self.keep).rev() {
                let from = numbered(&self.path, n);
                if from.exists() {
                    std::fs::rename(&from, numbered(&self.path, n + 1))?;
                }
            }
            std::fs::rename(&self.path, numbered(&self.path, 1))?;
        }
        self.out = BufWriter::new(open_append(&self.path)?);
        self.written = 0;
        self.rotations += 1;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), SinkError> {
        Ok(self.out.flush()?)
    }
}

/// A destination written synchronously by the pipeline.
pub enum Local {
    Stdout(BufWriter<Stdout>),
    File(RotatingFile),
}

impl Local {
    pub fn stdout() -> Self {
        Local::Stdout(BufWriter::new(std::io::stdout()))
    }

    pub fn write_line(&mut self, body: &[u8]) -> Result<(), SinkError> {
        match self {
            Local::Stdout(w) => {
                w.write_all(body)?;
                w.write_all(b"\n")?;
            }
            Local::File(f) => f.write_line(body)?,
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), SinkError> {
        match self {
            Local::Stdout(w) => w.flush()?,
            Local::File(f) => f.flush()?,
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_only_the_newest_files() {
        let dir = std::env::temp_dir().join(format!("tw-rotate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        let mut f = RotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..20 {
            f.write_line(format!("{{\"n\":{i:040}}}").as_bytes()).unwrap();
        }
        f.flush().unwrap();
        let mut names: Vec<String> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["out.jsonl", "out.jsonl.1", "out.jsonl.2"], "retention keeps 2 rotated files");
        for name in &names {
            let len = std::fs::metadata(dir.join(name)).unwrap().len();
            assert!(len <= 100, "{name} is {len} bytes, over the 100-byte limit");
        }
        let last = std::fs::read_to_string(&path).unwrap();
        assert!(last.contains(&format!("{:040}", 19)), "newest line is in the live file: {last}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
