//! Where documents go: stdout or a file, one JSON object per line.

use std::{
    fs::{File, OpenOptions},
    io::{BufWriter, Stdout, Write},
    path::PathBuf,
};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("output {0:?}: expected `stdout` or `file:PATH`")]
    Spec(String),
    #[error("output file {path}: {source}")]
    Open { path: PathBuf, source: std::io::Error },
    #[error("writing output: {0}")]
    Write(#[from] std::io::Error),
}

/// An output destination.
pub enum Sink {
    Stdout(BufWriter<Stdout>),
    File(BufWriter<File>),
}

impl Sink {
    /// Parses `stdout` or `file:PATH` (appending; created 0600 since alerts name users).
    pub fn open(spec: &str) -> Result<Self, SinkError> {
        if spec == "stdout" || spec == "-" {
            return Ok(Sink::Stdout(BufWriter::new(std::io::stdout())));
        }
        let Some(path) = spec.strip_prefix("file:").filter(|p| !p.is_empty()) else {
            return Err(SinkError::Spec(spec.into()));
        };
        let path = PathBuf::from(path);
        use std::os::unix::fs::OpenOptionsExt as _;
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| SinkError::Open { path: path.clone(), source })?;
        Ok(Sink::File(BufWriter::new(f)))
    }

    /// Writes one document as a line.
    pub fn write_doc(&mut self, doc: &serde_json::Value) -> Result<(), SinkError> {
        let w: &mut dyn Write = match self {
            Sink::Stdout(w) => w,
            Sink::File(w) => w,
        };
        serde_json::to_writer(&mut *w, doc).map_err(std::io::Error::other)?;
        w.write_all(b"\n")?;
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), SinkError> {
        match self {
            Sink::Stdout(w) => w.flush()?,
            Sink::File(w) => w.flush()?,
        }
        Ok(())
    }
}
