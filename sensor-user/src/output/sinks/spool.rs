//! Bounded on-disk spool of a remote sink: the write-ahead log its sender thread
//! delivers from.
//!
//! Layout of the spool directory (0700, files 0600):
//! - `<id>.spool`: append-only segments, one [`Record::encode`] line per record, `id`
//!   increasing (20 digits, so names sort by age); a segment is closed at
//!   [`Spool::segment_bytes`] and deleted once every record in it is acknowledged;
//! - `cursor`: `<segment id> <byte offset>` of the first unacknowledged record,
//!   replaced atomically (write, then rename) after each acknowledged batch.
//!
//! A crash re-sends from the last persisted cursor: at-least-once, in order.
//! When an append would pass the size limit, the oldest segment holding events is
//! rewritten without its events (alerts and state documents kept); when no event is
//! left, the oldest records go, whatever their class.

use std::{
    collections::VecDeque,
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Seek, SeekFrom, Write},
    os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt},
    path::{Path, PathBuf},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use tracing::warn;

use super::{Class, Record, SinkStats};

/// Largest segment; small spools use smaller ones so the limit can be kept closely.
const MAX_SEGMENT: u64 = 4 << 20;
const MIN_SEGMENT: u64 = 4 << 10;
/// Bytes read per batch at most (on top of the record count limit).
const MAX_BATCH_BYTES: u64 = 8 << 20;
/// Appends are flushed to the OS at once, and to the disk at most this often.
const SYNC_EVERY: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct SpoolError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

trait Ctx<T> {
    fn at(self, path: &Path) -> Result<T, SpoolError>;
}

impl<T> Ctx<T> for std::io::Result<T> {
    fn at(self, path: &Path) -> Result<T, SpoolError> {
        self.map_err(|source| SpoolError { path: path.to_path_buf(), source })
    }
}

/// A place in the spool: segment id and byte offset of a line start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pos {
    seg: u64,
    off: u64,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    bytes: u64,
    /// Event lines in the file (acknowledged ones included until it is rewritten).
    events: u64,
}

/// How [`Spool::rewrite`] thins a segment (acknowledged lines always go).
#[derive(Clone, Copy)]
enum Thin {
    Events,
    /// The oldest records until this many bytes are freed.
    Oldest(u64),
}

pub struct Spool {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    /// Append handle on the last segment.
    active: Option<File>,
    cursor: Pos,
    /// End of the batch handed out by `read_batch` and not yet acknowledged.
    inflight: Option<Pos>,
    disk_bytes: u64,
    pending: u64,
    stats: Arc<SinkStats>,
    last_sync: Instant,
    dirty: bool,
}

fn seg_name(id: u64) -> String {
    format!("{id:020}.spool")
}

/// Line starts and classes of a segment's bytes; a damaged line has no class.
fn lines(data: &[u8]) -> impl Iterator<Item = (u64, &[u8], Option<Class>)> {
    let mut off = 0usize;
    std::iter::from_fn(move || {
        if off >= data.len() {
            return None;
        }
        let len = data[off..].iter().position(|b| *b == b'\n').map_or(data.len() - off, |i| i + 1);
        let line = &data[off..off + len];
        let start = off as u64;
        off += len;
        let body = line.strip_suffix(b"\n").unwrap_or(line);
        let class = Record::decode(body).map(|r| r.class);
        Some((start, line, class))
    })
}

impl Spool {
    /// Opens (or creates) the spool in `dir` and recovers what a previous run left.
    pub fn open(dir: &Path, max_bytes: u64, stats: Arc<SinkStats>) -> Result<Self, SpoolError> {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).at(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).at(dir)?;
        let mut ids = Vec::new();
        for entry in std::fs::read_dir(dir).at(dir)? {
            let entry = entry.at(dir)?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.ends_with(".tmp") {
                let _ = std::fs::remove_file(entry.path());
            } else if let Some(id) = name.strip_suffix(".spool").and_then(|s| s.parse::<u64>().ok()) {
                ids.push(id);
            }
        }
        ids.sort_unstable();
        let cursor_path = dir.join("cursor");
        let saved = std::fs::read_to_string(&cursor_path).ok().and_then(|s| {
            let mut it = s.split_whitespace().map(|x| x.parse::<u64>().ok());
            Some(Pos { seg: it.next()??, off: it.next()?? })
        });
        let first = ids.first().copied().unwrap_or(1);
        let mut cursor = saved.unwrap_or(Pos { seg: first, off: 0 });
        if cursor.seg < first {
            cursor = Pos { seg: first, off: 0 };
        }
        let segment_bytes = (max_bytes / 8).clamp(MIN_SEGMENT, MAX_SEGMENT);
        let mut spool = Spool {
            dir: dir.to_path_buf(),
            max_bytes,
            segment_bytes,
            segments: VecDeque::new(),
            active: None,
            cursor,
            inflight: None,
            disk_bytes: 0,
            pending: 0,
            stats,
            last_sync: Instant::now(),
            dirty: false,
        };
        let mut damaged = 0u64;
        for id in ids {
            let path = spool.path(id);
            if id < cursor.seg {
                // Fully acknowledged before the last stop.
                std::fs::remove_file(&path).at(&path)?;
                continue;
            }
            let mut data = std::fs::read(&path).at(&path)?;
            let whole = data.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
            if whole < data.len() {
                // A write cut short by a crash: keep whole lines only.
                damaged += 1;
                data.truncate(whole);
                OpenOptions::new().write(true).open(&path).and_then(|f| f.set_len(whole as u64)).at(&path)?;
            }
            let from = if id == cursor.seg { cursor.off.min(data.len() as u64) } else { 0 };
            if id == cursor.seg {
                spool.cursor.off = from;
            }
            let mut events = 0;
            for (off, _, class) in lines(&data) {
                match class {
                    None => damaged += 1,
                    Some(c) => {
                        events += u64::from(c == Class::Event);
                        spool.pending += u64::from(off >= from);
                    }
                }
            }
            spool.disk_bytes += data.len() as u64;
            spool.segments.push_back(Segment { id, bytes: data.len() as u64, events });
        }
        if damaged > 0 {
            warn!(spool = %dir.display(), "skipped {damaged} damaged spool lines");
            spool.stats.errors.fetch_add(damaged, Ordering::Relaxed);
        }
        if let Some(last) = spool.segments.back() {
            let path = spool.path(last.id);
            spool.active = Some(OpenOptions::new().append(true).open(&path).at(&path)?);
        }
        spool.publish();
        Ok(spool)
    }

    fn path(&self, id: u64) -> PathBuf {
        self.dir.join(seg_name(id))
    }

    /// Records waiting for delivery.
    pub fn pending(&self) -> u64 {
        self.pending
    }

    /// Size of the segment files.
    pub fn disk_bytes(&self) -> u64 {
        self.disk_bytes
    }

    fn publish(&self) {
        self.stats.spool_records.store(self.pending, Ordering::Relaxed);
        self.stats.spool_bytes.store(self.disk_bytes, Ordering::Relaxed);
    }

    fn count_drop(&self, class: Class) {
        let c = if class == Class::Alert { &self.stats.dropped_alerts } else { &self.stats.dropped_events };
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// Appends `records` in order (flushed to the OS), making room first when needed.
    /// A record that cannot be stored is counted as dropped.
    pub fn append(&mut self, records: &[Record]) -> Result<(), SpoolError> {
        let mut buf: Vec<u8> = Vec::new();
        let mut buf_events = 0;
        let mut result = Ok(());
        for (i, r) in records.iter().enumerate() {
            let line = r.encode();
            let len = line.len() as u64;
            if len > self.max_bytes {
                warn!(spool = %self.dir.display(), seq = r.seq, "record larger than the spool: dropped");
                self.count_drop(r.class);
                continue;
            }
            let in_active = self.segments.back().map_or(0, |s| s.bytes) + buf.len() as u64;
            let rotate = self.active.is_none() || (in_active > 0 && in_active + len > self.segment_bytes);
            let full = self.disk_bytes + buf.len() as u64 + len > self.max_bytes;
            if rotate || full {
                if let Err(e) = self.write_buf(&mut buf, &mut buf_events) {
                    // Those records are lost (counted); carry on in a new segment.
                    result = Err(e);
                }
                if let Err(e) = self.room_for(len) {
                    records[i..].iter().for_each(|r| self.count_drop(r.class));
                    self.stats.errors.fetch_add(1, Ordering::Relaxed);
                    self.publish();
                    return Err(e);
                }
            }
            buf.extend_from_slice(&line);
            buf_events += u64::from(r.class == Class::Event);
            self.pending += 1;
        }
        if let Err(e) = self.write_buf(&mut buf, &mut buf_events) {
            result = Err(e);
        }
        self.stats.spooled.fetch_add(records.len() as u64, Ordering::Relaxed);
        self.sync_if_due();
        self.publish();
        result
    }

    /// Makes room for a line of `len` bytes and opens a segment that can take it.
    fn room_for(&mut self, len: u64) -> Result<(), SpoolError> {
        self.make_room(len)?;
        let back = self.segments.back().map_or(0, |s| s.bytes);
        if self.active.is_none() || (back > 0 && back + len > self.segment_bytes) {
            self.rotate()?;
        }
        Ok(())
    }

    fn write_buf(&mut self, buf: &mut Vec<u8>, events: &mut u64) -> Result<(), SpoolError> {
        if buf.is_empty() {
            return Ok(());
        }
        let Some(id) = self.segments.back().map(|s| s.id) else { return Ok(()) };
        let path = self.path(id);
        let res = match self.active.as_mut() {
            Some(f) => f.write_all(buf).at(&path),
            None => Err(std::io::Error::other("segment not open")).at(&path),
        };
        let real = match &res {
            Ok(()) => {
                self.dirty = true;
                self.segments.back().map_or(0, |s| s.bytes) + buf.len() as u64
            }
            Err(_) => {
                // Later records go to a new segment.
                self.active = None;
                let lost: Vec<Class> = lines(buf).filter_map(|(_, _, c)| c).collect();
                self.pending = self.pending.saturating_sub(lost.len() as u64);
                lost.into_iter().for_each(|c| self.count_drop(c));
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                // Part of it may have reached the file: measure it.
                *events = 0;
                std::fs::metadata(&path).map_or(0, |m| m.len())
            }
        };
        if let Some(seg) = self.segments.back_mut() {
            self.disk_bytes = self.disk_bytes - seg.bytes + real;
            seg.bytes = real;
            seg.events += *events;
        }
        buf.clear();
        *events = 0;
        res
    }

    /// Closes the active segment and opens a new one.
    fn rotate(&mut self) -> Result<(), SpoolError> {
        if let Some(f) = self.active.take()
            && self.dirty
        {
            let _ = f.sync_data();
        }
        let id = self.segments.back().map_or(self.cursor.seg, |s| s.id + 1).max(self.cursor.seg);
        let path = self.path(id);
        let file = OpenOptions::new().create(true).append(true).mode(0o600).open(&path).at(&path)?;
        self.active = Some(file);
        self.segments.push_back(Segment { id, bytes: 0, events: 0 });
        Ok(())
    }

    /// Frees space for `need` more bytes: events first, then the oldest records.
    fn make_room(&mut self, need: u64) -> Result<(), SpoolError> {
        while self.disk_bytes + need > self.max_bytes {
            let before = self.disk_bytes;
            let over = self.disk_bytes + need - self.max_bytes;
            if let Some(i) = self.segments.iter().position(|s| s.events > 0) {
                self.rewrite(i, Thin::Events)?;
            } else if !self.segments.is_empty() {
                self.rewrite(0, Thin::Oldest(over))?;
            }
            if self.disk_bytes >= before {
                break;
            }
        }
        Ok(())
    }

    /// Rewrites segment `i` without its acknowledged lines and what `thin` asks for;
    /// moves the cursor and the in-flight batch end to the same records.
    fn rewrite(&mut self, i: usize, thin: Thin) -> Result<(), SpoolError> {
        let id = self.segments[i].id;
        let path = self.path(id);
        let data = std::fs::read(&path).at(&path)?;
        let from = if id == self.cursor.seg { self.cursor.off } else { 0 };
        let mut out = Vec::with_capacity(data.len());
        let (mut events, mut dropped, mut freed) = (0, 0, 0u64);
        let target = self.inflight.filter(|p| p.seg == id).map(|p| p.off);
        let mut mapped = None;
        for (off, line, class) in lines(&data) {
            if target == Some(off) {
                mapped = Some(out.len() as u64);
            }
            let keep = match (class, thin) {
                _ if off < from => false,
                (None, _) => false,
                (Some(c), Thin::Events) => c != Class::Event,
                (Some(_), Thin::Oldest(n)) => freed >= n,
            };
            if keep {
                out.extend_from_slice(line);
                events += u64::from(class == Some(Class::Event));
            } else {
                freed += line.len() as u64;
                if let Some(c) = class.filter(|_| off >= from) {
                    self.count_drop(c);
                    dropped += 1;
                }
            }
        }
        if target.is_some() {
            // The batch being sent ends before the same record as before.
            self.inflight = Some(Pos { seg: id, off: mapped.unwrap_or(out.len() as u64) });
        }
        if id == self.cursor.seg && self.cursor.off != 0 {
            // Persist the cursor first: a crash before the rename re-sends, never skips.
            self.cursor.off = 0;
            self.save_cursor()?;
        }
        let tmp = self.dir.join(format!("{}.tmp", seg_name(id)));
        let mut f =
            OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp).at(&tmp)?;
        f.write_all(&out).at(&tmp)?;
        std::fs::rename(&tmp, &path).at(&path)?;
        if i == self.segments.len() - 1 {
            self.active = Some(OpenOptions::new().append(true).open(&path).at(&path)?);
        }
        let seg = &mut self.segments[i];
        self.disk_bytes = self.disk_bytes - seg.bytes + out.len() as u64;
        seg.bytes = out.len() as u64;
        seg.events = events;
        self.pending = self.pending.saturating_sub(dropped);
        if out.is_empty() && i + 1 < self.segments.len() {
            self.segments.remove(i);
            std::fs::remove_file(&path).at(&path)?;
        }
        if dropped > 0 {
            warn!(spool = %self.dir.display(), "spool full: dropped {dropped} records ({thin_name})",
                thin_name = if matches!(thin, Thin::Events) { "events" } else { "oldest" });
        }
        Ok(())
    }

    fn save_cursor(&self) -> Result<(), SpoolError> {
        let tmp = self.dir.join("cursor.tmp");
        let mut f =
            OpenOptions::new().create(true).write(true).truncate(true).mode(0o600).open(&tmp).at(&tmp)?;
        f.write_all(format!("{} {}\n", self.cursor.seg, self.cursor.off).as_bytes()).at(&tmp)?;
        let path = self.dir.join("cursor");
        std::fs::rename(&tmp, &path).at(&path)
    }

    /// Deletes fully acknowledged segments at the head (the active one too: the next
    /// append opens a new segment).
    fn drop_consumed(&mut self) -> Result<(), SpoolError> {
        while let Some(head) = self.segments.front() {
            if head.id != self.cursor.seg || self.cursor.off < head.bytes || head.bytes == 0 {
                break;
            }
            let (id, bytes) = (head.id, head.bytes);
            if self.segments.len() == 1 {
                self.active = None;
            }
            self.segments.pop_front();
            self.cursor = Pos { seg: id + 1, off: 0 };
            self.save_cursor()?;
            let path = self.path(id);
            std::fs::remove_file(&path).at(&path)?;
            self.disk_bytes -= bytes;
        }
        Ok(())
    }

    /// Up to `max` records from the cursor (one segment at most), in order. They stay
    /// in the spool until [`Spool::ack`]; damaged lines are skipped.
    pub fn read_batch(&mut self, max: usize) -> Result<Vec<Record>, SpoolError> {
        self.inflight = None;
        loop {
            self.drop_consumed()?;
            let Some(seg) = self.segments.iter().find(|s| s.id >= self.cursor.seg) else {
                return Ok(Vec::new());
            };
            if seg.id != self.cursor.seg {
                self.cursor = Pos { seg: seg.id, off: 0 };
            }
            if self.cursor.off >= seg.bytes {
                return Ok(Vec::new());
            }
            let path = self.path(seg.id);
            let mut f = File::open(&path).at(&path)?;
            f.seek(SeekFrom::Start(self.cursor.off)).at(&path)?;
            let mut reader = BufReader::new(f.take((seg.bytes - self.cursor.off).min(MAX_BATCH_BYTES)));
            let (mut out, mut off, mut line) = (Vec::new(), self.cursor.off, Vec::new());
            while out.len() < max {
                line.clear();
                let n = reader.read_until(b'\n', &mut line).at(&path)?;
                if n == 0 {
                    break;
                }
                if line.last() != Some(&b'\n') {
                    if off + n as u64 == seg.bytes {
                        // The tail of a failed write: damaged, step over it.
                        off += n as u64;
                    }
                    break;
                }
                off += n as u64;
                if let Some(r) = Record::decode(&line[..n - 1]) {
                    out.push(r);
                }
            }
            if off == self.cursor.off {
                // One line longer than the batch byte limit: damaged.
                warn!(spool = %self.dir.display(), "skipping an oversized spool line");
                return Ok(Vec::new());
            }
            if out.is_empty() {
                // Only damaged lines: step over them.
                self.cursor.off = off;
                continue;
            }
            self.inflight = Some(Pos { seg: seg.id, off });
            return Ok(out);
        }
    }

    /// The last batch from [`Spool::read_batch`] was delivered: `n` records.
    pub fn ack(&mut self, n: usize) -> Result<(), SpoolError> {
        let Some(end) = self.inflight.take() else { return Ok(()) };
        self.cursor = end;
        self.pending = self.pending.saturating_sub(n as u64);
        let res = self.save_cursor().and_then(|()| self.drop_consumed());
        self.publish();
        res
    }

    /// Flushes appended records to the disk if the last sync is older than a second.
    pub fn sync_if_due(&mut self) {
        if self.dirty && self.last_sync.elapsed() >= SYNC_EVERY {
            self.sync();
        }
    }

    /// Flushes appended records to the disk.
    pub fn sync(&mut self) {
        if let Some(f) = &self.active
            && let Err(e) = f.sync_data()
        {
            warn!(spool = %self.dir.display(), "spool sync: {e}");
            self.stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        self.dirty = false;
        self.last_sync = Instant::now();
    }
}

#[cfg(test)]
#[path = "spool_tests.rs"]
mod tests;
