use std::mem::size_of;

use sensor_common::{EVENT_FORK, EVENT_OPEN, EventHeader, ForkEvent, OpenEvent, PathRec, TaskInfo};

use super::*;

fn header(kind: u32, size: usize) -> EventHeader {
    EventHeader {
        kind,
        size: size as u32,
        ts_boot_ns: 42,
        task: TaskInfo {
            tgid: 100,
            pid: 101,
            ppid: 1,
            uid: 1000,
            gid: 1000,
            euid: 0,
            egid: 0,
            loginuid: u32::MAX,
            sessionid: 7,
            _pad0: 0,
            start_boottime_ns: 5_000_000_000,
            comm: *b"cat\0\0\0\0\0\0\0\0\0\0\0\0\0",
        },
    }
}

fn bytes_of<T: Copy>(v: &T) -> Vec<u8> {
    // SAFETY: test helper over #[repr(C)] integer-only records.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn open_record(names: &[&str], flags: u32) -> OpenEvent {
    let mut path = PathRec { depth: names.len() as u32, flags, names: [[0; 64]; 32] };
    for (i, n) in names.iter().enumerate() {
        path.names[i][..n.len()].copy_from_slice(n.as_bytes());
    }
    OpenEvent {
        header: header(EVENT_OPEN, size_of::<OpenEvent>()),
        syscall: sensor_common::SYS_OPENAT,
        fd: 3,
        flags: 0,
        matched: sensor_common::MATCH_BASENAME,
        dev: 0x800001,
        mode: 0o100600,
        ino: 1234,
        owner_uid: 1001,
        _pad0: 0,
        path,
    }
}

#[test]
fn open_record_decodes_leaf_first_names_into_a_path() {
    let rec = open_record(&["credentials", ".aws", "alice", "home"], 0);
    let Event::Open(o) = decode(&bytes_of(&rec)).expect("valid record decodes") else {
        panic!("expected an open event");
    };
    assert_eq!(o.path.path, "/home/alice/.aws/credentials");
    assert!(o.path.is_complete());
    assert_eq!(o.task.tgid, 100);
    assert_eq!(o.task.loginuid, None, "u32::MAX loginuid means unset");
    assert_eq!(o.task.sessionid, Some(7));
    assert_eq!(o.task.comm, "cat");
    assert_eq!((o.dev, o.ino, o.owner_uid), (0x800001, 1234, 1001));
}

#[test]
fn truncated_walk_is_marked() {
    let rec = open_record(&["token", "x"], sensor_common::PATH_TRUNCATED);
    let Event::Open(o) = decode(&bytes_of(&rec)).expect("decodes") else { panic!("open") };
    assert_eq!(o.path.path, "…/x/token");
    assert!(!o.path.is_complete());
}

#[test]
fn short_buffers_are_rejected() {
    assert_eq!(decode(&[]), Err(DecodeError::Short(0)));
    assert_eq!(decode(&[1, 0, 0, 0]), Err(DecodeError::Short(4)));
}

#[test]
fn header_claiming_more_than_the_buffer_is_rejected() {
    let rec = open_record(&["credentials"], 0);
    let mut b = bytes_of(&rec);
    b.truncate(size_of::<EventHeader>() + 10);
    assert!(matches!(decode(&b), Err(DecodeError::SizeMismatch { .. })));
}

#[test]
fn record_shorter_than_its_kind_is_rejected() {
    // A header that honestly says it is only header-sized, but claims to be an open.
    let h = header(EVENT_OPEN, size_of::<EventHeader>());
    let b = bytes_of(&h);
    assert!(matches!(decode(&b), Err(DecodeError::Truncated { kind: EVENT_OPEN, .. })));
}

#[test]
fn unknown_kind_is_rejected_not_transmuted() {
    let h = header(99, size_of::<EventHeader>());
    assert_eq!(decode(&bytes_of(&h)), Err(DecodeError::UnknownKind(99)));
}

#[test]
fn fork_record_decodes() {
    let f = ForkEvent {
        header: header(EVENT_FORK, size_of::<ForkEvent>()),
        child_tgid: 555,
        _pad0: 0,
        child_start_boottime_ns: 9,
    };
    let Event::Fork(f) = decode(&bytes_of(&f)).expect("fork decodes") else { panic!("fork") };
    assert_eq!((f.parent.tgid, f.child_tgid), (100, 555));
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678u32;
    for len in 0..3000usize {
        let mut b = vec![0u8; len];
        for x in &mut b {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
            *x = (seed >> 16) as u8;
        }
        if len >= 8 {
            // Valid kinds with random sizes exercise the length checks.
            b[0] = (len % 5) as u8;
            b[1..4].fill(0);
        }
        let _ = decode(&b);
    }
}

#[test]
fn argv_split() {
    assert_eq!(split_args(b"cat\0/etc/passwd\0"), vec!["cat", "/etc/passwd"]);
    assert!(split_args(b"").is_empty());
}

#[test]
fn open_records_carry_only_the_path_components_walked() {
    let mut rec = open_record(&["credentials", ".aws", "alice", "home"], 0);
    let len = OPEN_FIXED_LEN + 4 * NAME_LEN;
    rec.header.size = len as u32;
    let bytes = bytes_of(&rec);
    let Event::Open(o) = decode(&bytes[..len]).expect("a record with its walked names decodes") else {
        panic!("expected an open event");
    };
    assert_eq!(o.path.path, "/home/alice/.aws/credentials");
    // Claiming five components but sending four is malformed, not zero-filled.
    rec.path.depth = 5;
    let bytes = bytes_of(&rec);
    assert!(matches!(decode(&bytes[..len]), Err(DecodeError::Truncated { .. })));
}

#[test]
fn data_records_carry_only_the_bytes_captured() {
    // SAFETY: an integer-and-byte-array record; all-zero is valid.
    let mut d: DataEvent = unsafe { std::mem::zeroed() };
    d.header = header(EVENT_DATA, 0);
    d.source = sensor_common::SRC_SENDTO;
    let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    d.data[..head.len()].copy_from_slice(head);
    d.captured = head.len() as u32;
    let len = DATA_FIXED_LEN + head.len();
    d.header.size = len as u32;
    let bytes = bytes_of(&d);
    let Event::Data(got) = decode(&bytes[..len]).expect("data record decodes") else {
        panic!("expected a data event");
    };
    assert_eq!(got.bytes, head);
    d.captured += 1;
    assert!(matches!(decode(&bytes_of(&d)[..len]), Err(DecodeError::Truncated { .. })));
}
