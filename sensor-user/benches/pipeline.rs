//! Userspace pipeline throughput: raw ring-buffer records, laid out exactly as the
//! kernel writes them (the `sensor-common` record types), fed through decode → process
//! table → rules → correlation → ECS serialization → a sink, on one core.
//!
//! The mix is what a busy jump host sends up: per cycle of 100 records, 20 process
//! starts (fork + exec + exit of short-lived commands, 60 records), 30 opens of watched
//! stores by their owners' programs (filtered in userspace), 4 connects, 4 TLS request
//! heads (one carrying a bearer JWT: a `credential-used` document), 1 request without a
//! credential and one store read by `cat` (an alert, with correlation state).

use std::{
    hint::black_box,
    path::{Path, PathBuf},
    time::Duration,
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sensor_common::{
    ConnectEvent, DataEvent, EVENT_CONNECT, EVENT_DATA, EVENT_EXEC, EVENT_EXIT, EVENT_FORK, EVENT_OPEN,
    EventHeader, ExecEvent, ExitEvent, ForkEvent, MATCH_BASENAME, NAME_LEN, OpenEvent, PathRec, SRC_OPENSSL,
    SYS_OPENAT, TaskInfo,
};
use tokenwarden::{
    daemon::{Pipeline, PipelineOptions},
    detect::{correlate::CorrelationConfig, rules::RuleSet, rules::embedded_default, stores::StoreIndex},
    output::{
        HostInfo, Sinks,
        sinks::{SinkConfig, SinkType},
    },
    process::ProcessTable,
};

/// The allocator of the `tokenwarden` binary.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The bytes of a `#[repr(C)]` record, as the ring buffer delivers them.
fn bytes<T: Copy>(rec: &T) -> Vec<u8> {
    // SAFETY: `T` is a plain-old-data kernel record; reading its bytes is what the
    // ring buffer does.
    unsafe { std::slice::from_raw_parts((rec as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
}

fn zeroed<T: Copy>() -> T {
    // SAFETY: every record type is integers and byte arrays; all-zero is valid.
    unsafe { std::mem::zeroed() }
}

fn task(tgid: u32, ppid: u32, uid: u32, comm: &str) -> TaskInfo {
    let mut t: TaskInfo = zeroed();
    t.tgid = tgid;
    t.pid = tgid;
    t.ppid = ppid;
    t.uid = uid;
    t.euid = uid;
    t.gid = uid;
    t.egid = uid;
    t.loginuid = uid;
    t.sessionid = 7;
    t.start_boottime_ns = u64::from(tgid) * 1_000;
    t.comm[..comm.len().min(15)].copy_from_slice(&comm.as_bytes()[..comm.len().min(15)]);
    t
}

fn header(kind: u32, size: usize, task: TaskInfo) -> EventHeader {
    EventHeader { kind, size: size as u32, ts_boot_ns: 1_000_000, task }
}

/// A path record: components from the file up to the root.
fn path(p: &str) -> PathRec {
    let mut rec: PathRec = zeroed();
    for (i, c) in p.split('/').filter(|c| !c.is_empty()).rev().enumerate() {
        rec.names[i][..c.len().min(NAME_LEN - 1)].copy_from_slice(&c.as_bytes()[..c.len().min(NAME_LEN - 1)]);
        rec.depth = i as u32 + 1;
    }
    rec
}

fn exec(t: TaskInfo, exe: &str, args: &[&str]) -> Vec<u8> {
    let mut e: ExecEvent = zeroed();
    e.header = header(EVENT_EXEC, size_of::<ExecEvent>(), t);
    e.exe_dev = 254 << 20;
    e.exe_ino = 4242;
    e.filename[..exe.len()].copy_from_slice(exe.as_bytes());
    let argv = args.join("\0");
    e.args[..argv.len()].copy_from_slice(argv.as_bytes());
    e.args_len = argv.len() as u32 + 1;
    e.exe_path = path(exe);
    bytes(&e)
}

fn fork(parent: TaskInfo, child: u32) -> Vec<u8> {
    let mut e: ForkEvent = zeroed();
    e.header = header(EVENT_FORK, size_of::<ForkEvent>(), parent);
    e.child_tgid = child;
    e.child_start_boottime_ns = u64::from(child) * 1_000;
    bytes(&e)
}

fn exit(t: TaskInfo) -> Vec<u8> {
    let mut e: ExitEvent = zeroed();
    e.header = header(EVENT_EXIT, size_of::<ExitEvent>(), t);
    bytes(&e)
}

fn open(t: TaskInfo, file: &str, ino: u64, owner: u32) -> Vec<u8> {
    let mut e: OpenEvent = zeroed();
    e.header = header(EVENT_OPEN, size_of::<OpenEvent>(), t);
    e.syscall = SYS_OPENAT;
    e.fd = 3;
    e.matched = MATCH_BASENAME;
    e.dev = 254 << 20;
    e.mode = 0o100600;
    e.ino = ino;
    e.owner_uid = owner;
    e.path = path(file);
    bytes(&e)
}

fn connect(t: TaskInfo, port: u16) -> Vec<u8> {
    let mut e: ConnectEvent = zeroed();
    e.header = header(EVENT_CONNECT, size_of::<ConnectEvent>(), t);
    e.fd = 5;
    e.addr_len = 16;
    e.sockaddr[..2].copy_from_slice(&2u16.to_le_bytes());
    e.sockaddr[2..4].copy_from_slice(&port.to_be_bytes());
    e.sockaddr[4..8].copy_from_slice(&[10, 1, 2, 3]);
    bytes(&e)
}

fn request(t: TaskInfo, conn: u64, head: &str) -> Vec<u8> {
    let mut e: DataEvent = zeroed();
    e.header = header(EVENT_DATA, size_of::<DataEvent>(), t);
    e.source = SRC_OPENSSL;
    e.fd = -1;
    e.conn = conn;
    e.len = head.len() as u32;
    e.captured = head.len() as u32;
    e.data[..head.len()].copy_from_slice(head.as_bytes());
    bytes(&e)
}

/// A JWT-shaped bearer token (not a real credential).
const JWT: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJleHAiOjQxMDI0NDQ4MDAsImlhdCI6NDEwMjQ0MTIwMH0.c2lnbmF0dXJlLW5vdC1yZWFs";

/// One cycle of 100 records (see the module comment).
fn cycle(store: &str, store_ino: u64) -> Vec<Vec<u8>> {
    let shell = task(5000, 4000, 1001, "bash");
    let mut recs = Vec::new();
    for i in 0..20u32 {
        let pid = 10_000 + i;
        let child = task(pid, shell.tgid, 1001, "aws");
        recs.push(fork(shell, pid));
        recs.push(exec(child, "/usr/local/bin/aws", &["aws", "s3", "ls", "--profile", "prod"]));
        if i < 15 {
            recs.push(open(child, store, store_ino, 1001));
            recs.push(open(child, store, store_ino, 1001));
        }
        if i < 4 {
            recs.push(connect(child, 443));
            let auth = if i == 0 { format!("Authorization: Bearer {JWT}\r\n") } else { String::new() };
            let head = format!(
                "GET /api/v{i} HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: aws-cli/2\r\n{auth}Accept: */*\r\n\r\n"
            );
            recs.push(request(child, 0x7f00_0000 + u64::from(i), &head));
        }
        recs.push(exit(child));
    }
    let cat = task(20_000, shell.tgid, 1001, "cat");
    recs.push(exec(cat, "/usr/bin/cat", &["cat", store]));
    recs.push(open(cat, store, store_ino, 1001));
    recs.push(request(
        task(10_001, shell.tgid, 1001, "aws"),
        0x7f00_0001,
        "POST /x HTTP/1.1\r\nHost: a\r\n\r\n",
    ));
    recs.truncate(100);
    recs
}

/// A home with one AWS store, so the store index, the provenance parser and the rule
/// engine see a real file.
fn fixture() -> (PathBuf, u64) {
    use std::os::unix::fs::MetadataExt as _;
    let dir = std::env::temp_dir().join(format!("tw-bench-pipeline-{}", std::process::id()));
    let aws = dir.join("home/alice/.aws");
    std::fs::create_dir_all(&aws).expect("bench fixture dir");
    let store = aws.join("credentials");
    std::fs::write(&store, "[default]\naws_access_key_id = AKIAEXAMPLEEXAMPLE00\naws_secret_access_key = notarealsecretnotarealsecretnotarealsecr\n")
        .expect("bench fixture store");
    let ino = std::fs::metadata(&store).expect("store metadata").ino();
    (store, ino)
}

fn pipeline(state: &Path, store_dir: &Path) -> Pipeline {
    let rules = RuleSet::compile(&[embedded_default()]).expect("default pack");
    let stores = StoreIndex::scan(&rules.file_patterns(), &[store_dir.to_path_buf()]);
    let mut sink = SinkConfig::new(SinkType::File);
    sink.path = Some(PathBuf::from("/dev/null"));
    let sinks = Sinks::open(&[sink], state).expect("sink to /dev/null");
    let table = ProcessTable::new("bench".into(), Duration::from_secs(300), 65_536);
    Pipeline::new(
        rules,
        stores,
        table,
        sinks,
        PipelineOptions {
            fingerprint_key: b"bench key".to_vec(),
            correlation: CorrelationConfig::default(),
            jwt_max_lifetime_s: 3600,
            emit_events: false,
            host: HostInfo { name: "bench".into(), id: "0".into() },
            instance_id: "bench".into(),
        },
    )
}

fn bench(c: &mut Criterion) {
    let (store, ino) = fixture();
    let home = store.parent().and_then(Path::parent).expect("home dir").to_path_buf();
    let state = home.join("state");
    std::fs::create_dir_all(&state).expect("state dir");
    let recs = cycle(&store.display().to_string(), ino);
    let mut pipe = pipeline(&state, &home);
    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Elements(recs.len() as u64));
    g.bench_function("raw_records_to_ecs", |b| {
        b.iter(|| {
            for r in &recs {
                pipe.handle(black_box(r));
            }
            pipe.flush();
        })
    });
    g.finish();
    assert_eq!(pipe.counters.malformed, 0, "every bench record decodes");
    assert!(pipe.counters.alerts > 0, "the cat read alerts");
    assert!(pipe.counters.credential_uses > 0, "the bearer request is a credential use");
    let _ = std::fs::remove_dir_all(home.parent().and_then(Path::parent).unwrap_or(&home));
}

criterion_group!(benches, bench);
criterion_main!(benches);
