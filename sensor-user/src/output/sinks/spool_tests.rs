//! Unit tests of the on-disk spool (real files in a temporary directory).

use std::{os::unix::fs::PermissionsExt, path::PathBuf, sync::atomic::Ordering};

use serde_json::json;

use super::*;

struct Dir(PathBuf);

impl Dir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "tw-spool-{tag}-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos()
        ));
        Dir(p)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rec(seq: u64, kind: &str, pad: usize) -> Record {
    let doc = json!({"@timestamp": "2026-12-04T10:00:00.000Z",
        "event": {"kind": kind, "sequence": seq, "action": "test"}, "pad": "x".repeat(pad)});
    Record::new(&doc, &doc)
}

fn open(dir: &Dir, max: u64) -> (Spool, Arc<SinkStats>) {
    let stats = Arc::new(SinkStats::default());
    (Spool::open(&dir.0, max, stats.clone()).expect("open spool"), stats)
}

/// Reads and acknowledges everything; returns the sequences in delivery order.
fn drain(spool: &mut Spool, batch: usize) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        let b = spool.read_batch(batch).expect("read");
        if b.is_empty() {
            return seen;
        }
        seen.extend(b.iter().map(|r| r.seq));
        spool.ack(b.len()).expect("ack");
    }
}

fn dir_bytes(dir: &Dir) -> u64 {
    std::fs::read_dir(&dir.0)
        .expect("list")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".spool"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum()
}

#[test]
fn order_is_preserved_across_segments_and_consumed_segments_are_deleted() {
    let dir = Dir::new("order");
    let (mut s, stats) = open(&dir, 256 << 10); // 32 KiB segments
    let recs: Vec<Record> = (1..=300).map(|i| rec(i, "alert", 200)).collect();
    for chunk in recs.chunks(7) {
        s.append(chunk).expect("append");
    }
    let segments = std::fs::read_dir(&dir.0)
        .expect("list")
        .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".spool")))
        .count();
    assert!(segments >= 3, "several segments: {segments}");
    assert_eq!(stats.spool_records.load(Ordering::Relaxed), 300);
    assert_eq!(stats.spooled.load(Ordering::Relaxed), 300);
    assert_eq!(drain(&mut s, 16), (1..=300).collect::<Vec<_>>());
    assert_eq!(stats.spool_records.load(Ordering::Relaxed), 0);
    assert_eq!(dir_bytes(&dir), 0, "acknowledged segments are deleted");
    // Appends after a full drain continue in order.
    s.append(&[rec(301, "event", 10)]).expect("append");
    assert_eq!(drain(&mut s, 16), vec![301]);
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode(&dir.0), 0o700);
    assert_eq!(mode(&dir.0.join("cursor")), 0o600);
}

#[test]
fn reopen_after_crash_replays_unacknowledged_records() {
    let dir = Dir::new("crash");
    {
        let (mut s, _) = open(&dir, 1 << 20);
        s.append(&(1..=50).map(|i| rec(i, "alert", 20)).collect::<Vec<_>>()).expect("append");
        let b = s.read_batch(20).expect("read");
        assert_eq!(b.first().map(|r| r.seq), Some(1));
        s.ack(b.len()).expect("ack");
        // Read but never acknowledged: must come back.
        let b = s.read_batch(10).expect("read");
        assert_eq!(b.first().map(|r| r.seq), Some(21));
        // Dropped without a clean stop (no sync, no final cursor write).
    }
    let (mut s, stats) = open(&dir, 1 << 20);
    assert_eq!(s.pending(), 30);
    assert_eq!(stats.spool_records.load(Ordering::Relaxed), 30);
    s.append(&[rec(51, "alert", 20)]).expect("append");
    assert_eq!(drain(&mut s, 7), (21..=51).collect::<Vec<_>>());
    drop(s);
    let (mut s, _) = open(&dir, 1 << 20);
    assert_eq!(drain(&mut s, 7), Vec::<u64>::new(), "nothing is sent twice after a clean ack");
}

#[test]
fn limit_drops_events_before_alerts_and_counts_them() {
    let dir = Dir::new("limit");
    let max = 64 << 10;
    let (mut s, stats) = open(&dir, max);
    // Alternating events and alerts, far more than fits.
    for i in 1..=1000u64 {
        let kind = if i % 4 == 0 { "alert" } else { "event" };
        s.append(&[rec(i, kind, 200)]).expect("append");
        assert!(dir_bytes(&dir) <= max, "spool passed its limit at record {i}: {}", dir_bytes(&dir));
        assert_eq!(s.disk_bytes(), dir_bytes(&dir), "accounted size matches the files");
    }
    let dropped_events = stats.dropped_events.load(Ordering::Relaxed);
    assert!(dropped_events > 0, "events were dropped");
    let left = drain(&mut s, 100);
    assert_eq!(left.len() as u64 + dropped_events + stats.dropped_alerts.load(Ordering::Relaxed), 1000);
    assert!(left.windows(2).all(|w| w[0] < w[1]), "what is left is in order");
    // Alerts go only when no event is left: what survives of the alerts is the newest
    // run, and every event left came after the last dropped alert.
    let alerts: Vec<u64> = left.iter().copied().filter(|q| q % 4 == 0).collect();
    let first_alert = *alerts.first().expect("alerts kept");
    assert_eq!(alerts, (first_alert..=1000).filter(|q| q % 4 == 0).collect::<Vec<_>>());
    let dropped_alerts = stats.dropped_alerts.load(Ordering::Relaxed);
    assert_eq!(dropped_alerts, (first_alert - 4) / 4, "every dropped alert counted");
    assert!(left.iter().filter(|q| *q % 4 != 0).all(|q| *q > first_alert - 4), "events dropped first");
    assert!(dropped_events > dropped_alerts * 3, "far more events than alerts dropped");
    // Only alerts now: the oldest alerts go, and are counted.
    let (mut s, stats) = open(&dir, max);
    for i in 1001..=2000u64 {
        s.append(&[rec(i, "alert", 200)]).expect("append");
        assert!(dir_bytes(&dir) <= max);
    }
    let dropped_alerts = stats.dropped_alerts.load(Ordering::Relaxed);
    assert!(dropped_alerts > 0);
    let left = drain(&mut s, 100);
    assert_eq!(left.len() as u64 + dropped_alerts, 1000);
    assert_eq!(left.last(), Some(&2000), "the newest alerts are kept");
    assert!(left.windows(2).all(|w| w[1] == w[0] + 1), "a contiguous newest run is kept");
}

#[test]
fn events_are_dropped_while_a_batch_is_in_flight_without_losing_its_place() {
    let dir = Dir::new("inflight");
    let max = 32 << 10;
    let (mut s, _) = open(&dir, max);
    s.append(&(1..=40).map(|i| rec(i, if i % 2 == 0 { "alert" } else { "event" }, 100)).collect::<Vec<_>>())
        .expect("append");
    let b = s.read_batch(10).expect("read");
    let last_sent = b.last().expect("batch").seq;
    // Fill the spool so that the head segment is thinned while the batch is out.
    s.append(&(41..=400).map(|i| rec(i, "event", 100)).collect::<Vec<_>>()).expect("append");
    s.ack(b.len()).expect("ack");
    let rest = drain(&mut s, 50);
    assert!(rest.first().is_some_and(|q| *q > last_sent), "nothing before the acked batch returns: {rest:?}");
    assert!(rest.windows(2).all(|w| w[0] < w[1]));
    // Alerts after the batch survived.
    for q in (last_sent + 1..=40).filter(|q| q % 2 == 0) {
        assert!(rest.contains(&q), "alert {q} kept");
    }
}

#[test]
fn damaged_and_torn_lines_are_counted_and_skipped() {
    let dir = Dir::new("damaged");
    {
        let (mut s, _) = open(&dir, 1 << 20);
        s.append(&(1..=3).map(|i| rec(i, "alert", 10)).collect::<Vec<_>>()).expect("append");
    }
    let seg = std::fs::read_dir(&dir.0)
        .expect("list")
        .filter_map(|e| e.ok())
        .find(|e| e.file_name().to_string_lossy().ends_with(".spool"))
        .expect("a segment")
        .path();
    let mut data = std::fs::read(&seg).expect("read");
    let second = data.iter().position(|b| *b == b'\n').expect("line") + 1;
    data.splice(second..second, b"garbage \xff not a record\n".iter().copied());
    data.extend_from_slice(b"4 A 3 2026-12-04T10:00:00Z torn {\"event\":"); // no newline
    std::fs::write(&seg, &data).expect("write");
    let (mut s, stats) = open(&dir, 1 << 20);
    assert_eq!(stats.errors.load(Ordering::Relaxed), 2, "one damaged line, one torn tail");
    assert_eq!(s.pending(), 3);
    s.append(&[rec(5, "alert", 10)]).expect("append");
    assert_eq!(drain(&mut s, 10), vec![1, 2, 3, 5]);
    // A spool line with only damage in a batch is stepped over.
    std::fs::write(dir.0.join(seg_name(99)), b"junk\nmore junk\n").expect("write");
    let (mut s, _) = open(&dir, 1 << 20);
    assert_eq!(drain(&mut s, 10), Vec::<u64>::new());
}
