//! Black-box kernel tests for issue 2: credential-store opens alert with lineage, however
//! the path is spelled; allowed programs and unrelated files do not.

use std::{os::unix::fs::MetadataExt as _, process::Command, time::Duration};

use serde_json::Value;
use tests::{
    Planted, Sensor, Serial, TempDir, is_action, is_alert, kernel_counter, kernel_tests_enabled, sh,
    users::TestUser,
};

const WAIT: Duration = Duration::from_secs(20);

/// Runs `cmd` in the background of a `sh` owned by `user`; returns (sh pid, reader pid).
fn read_as(user: &TestUser, cmd: &str) -> (u32, u32) {
    let out = user.sh(&format!("{cmd} >/dev/null & echo $$ $!; wait $!")).output().expect("spawn reader");
    assert!(out.status.success(), "`{cmd}` failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(|x| x.parse::<u32>().expect("pid"));
    (it.next().expect("sh pid"), it.next().expect("reader pid"))
}

fn alert_for_pid(sensor: &Sensor, pid: u32) -> Value {
    sensor.wait_for(&format!("alert for pid {pid}"), WAIT, |d| is_alert(d) && d["process"]["pid"] == pid)
}

fn subtechniques(d: &Value) -> Vec<String> {
    d["threat"]["technique"]["subtechnique"]["id"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Checks everything an analyst needs from one alert.
fn check_alert(d: &Value, user: &TestUser, sh_pid: u32, reader_exe: &str, store: &std::path::Path) {
    assert_eq!(d["event"]["kind"], "alert");
    assert_eq!(d["threat"]["framework"], "MITRE ATT&CK");
    assert!(subtechniques(d).contains(&"T1552.001".to_string()), "technique in {d}");
    assert!(d["rule"]["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(d["process"]["executable"], reader_exe, "resolved executable in {d}");
    assert_eq!(d["process"]["user"]["id"], user.uid.to_string());
    assert_eq!(d["process"]["parent"]["pid"], sh_pid, "parent pid in {d}");
    assert_eq!(d["process"]["parent"]["executable"], "/usr/bin/dash", "parent exe in {d}");
    let ancestry = d["tokenwarden"]["process"]["ancestry"].as_array().expect("ancestry list");
    assert_eq!(ancestry[0]["pid"], sh_pid);
    assert!(
        ancestry.iter().any(|a| a["pid"] == std::process::id()),
        "the test process is an ancestor: {ancestry:?}"
    );
    let ino = std::fs::metadata(store).expect("store").ino();
    assert_eq!(d["file"]["inode"], ino.to_string(), "real inode in {d}");
    assert!(d["event"]["severity"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(d["tokenwarden"]["cross_user"], false, "the owner reading their own store");
    // The test (root) became the user through setpriv: recorded on the lineage.
    let changes = d["tokenwarden"]["process"]["privilege_changes"].as_array().expect("privilege changes");
    assert!(
        changes
            .iter()
            .any(|c| c["from"]["uid"] == 0 && c["to"]["uid"] == user.uid && c["by"] == "/usr/bin/setpriv"),
        "root → user via setpriv recorded: {changes:?}"
    );
    assert!(d["host"]["name"].as_str().is_some_and(|h| !h.is_empty()));
    assert!(d["@timestamp"].as_str().is_some_and(|t| t.ends_with('Z')));
}

struct Fixture {
    user: TestUser,
    store: std::path::PathBuf,
    sensor: Sensor,
    _serial: Serial,
}

fn fixture(tag: &str, args: &[&str]) -> Option<Fixture> {
    let serial = kernel_tests_enabled(tag)?;
    let user = TestUser::create(tag);
    let store = user.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    let sensor = Sensor::start(args);
    let started = sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));
    assert_eq!(started["event"]["kind"], "state");
    Some(Fixture { user, store, sensor, _serial: serial })
}

#[test]
fn direct_relative_dirfd_and_dotdot_opens_alert_with_lineage() {
    let Some(f) = fixture("paths", &[]) else { return };
    let home = f.user.home.display().to_string();
    let cases = [
        ("direct", format!("cat {home}/.aws/credentials"), "/usr/bin/cat"),
        ("relative", "cd .aws && cat credentials".to_string(), "/usr/bin/cat"),
        ("dotdot", format!("cat {home}/.aws/../.aws/./credentials"), "/usr/bin/cat"),
        ("proc-cwd", "cd .aws && cat /proc/self/cwd/credentials".to_string(), "/usr/bin/cat"),
        (
            "dirfd",
            format!(
                "python3 -c \"import os; d=os.open('{home}/.aws', os.O_RDONLY); os.read(os.open('credentials', os.O_RDONLY, dir_fd=d), 10)\""
            ),
            "python3",
        ),
    ];
    for (name, cmd, exe) in cases {
        let (sh_pid, pid) = read_as(&f.user, &cmd);
        let d = alert_for_pid(&f.sensor, pid);
        let exe = if exe == "python3" {
            d["process"]["executable"]
                .as_str()
                .filter(|e| e.starts_with("/usr/bin/python3"))
                .expect(name)
                .to_string()
        } else {
            exe.to_string()
        };
        check_alert(&d, &f.user, sh_pid, &exe, &f.store);
        assert_eq!(d["file"]["path"], f.store.display().to_string(), "{name}: kernel path in {d}");
    }
    f.sensor.stop();
}

#[test]
fn symlink_hardlink_bind_mount_and_mount_namespace_are_resolved() {
    let Some(f) = fixture("links", &[]) else { return };
    let tmp = TempDir::new("links");
    let home = f.user.home.display().to_string();
    // Symlink anywhere: the kernel resolves it to the store.
    let link = tmp.path().join("innocent-link");
    std::os::unix::fs::symlink(&f.store, &link).expect("symlink");
    sh(&format!("chmod 755 {}", tmp.path().display()));
    let (sh_pid, pid) = read_as(&f.user, &format!("cat {}", link.display()));
    let d = alert_for_pid(&f.sensor, pid);
    check_alert(&d, &f.user, sh_pid, "/usr/bin/cat", &f.store);
    assert_eq!(d["file"]["path"], f.store.display().to_string());

    // Hard link with an unrelated name: only the inode identifies it (kernel inode map).
    let hard = f.user.home.join("notes-backup.txt");
    std::fs::hard_link(&f.store, &hard).expect("hard link");
    let (sh_pid, pid) = read_as(&f.user, &format!("cat {}", hard.display()));
    let d = alert_for_pid(&f.sensor, pid);
    check_alert(&d, &f.user, sh_pid, "/usr/bin/cat", &f.store);
    assert_eq!(d["file"]["path"], hard.display().to_string(), "the name used is reported");
    assert_eq!(d["tokenwarden"]["file"]["kernel_match"], "inode");
    assert!(
        d["tokenwarden"]["file"]["store_paths"]
            .as_array()
            .expect("store paths")
            .iter()
            .any(|p| p == &f.store.display().to_string()),
        "the store's own path is named: {d}"
    );

    // Bind mount inside a private mount namespace, read by root.
    let mnt = tmp.path().join("bind");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let out = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "mount --bind {home}/.aws {m} && cat {m}/credentials >/dev/null & echo $$ $!; wait $!",
            m = mnt.display()
        ))
        .output()
        .expect("unshare");
    assert!(out.status.success(), "unshare: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let bg_pid: u32 = text.split_whitespace().nth(1).expect("pid").parse().expect("pid");
    // The background job is a subshell running mount then cat: find the cat's alert by
    // its parent (the subshell) or by itself.
    let d = f.sensor.wait_for("bind-mount alert", WAIT, |d| {
        is_alert(d)
            && (d["process"]["parent"]["pid"] == bg_pid || d["process"]["pid"] == bg_pid)
            && d["process"]["executable"] == "/usr/bin/cat"
    });
    assert_eq!(d["file"]["path"], format!("{}/credentials", mnt.display()), "path in the namespace: {d}");
    assert_eq!(d["tokenwarden"]["cross_user"], true, "root reading another user's store");
    assert_eq!(d["event"]["severity"], 99, "one level above the rule's high");
    assert!(subtechniques(&d).contains(&"T1552.001".to_string()));
    assert_eq!(d["file"]["inode"], std::fs::metadata(&f.store).expect("store").ino().to_string());
    f.sensor.stop();
}

#[test]
fn allowlisted_program_does_not_alert_but_cat_does() {
    let Some(f) = fixture("allow", &["--emit-events"]) else { return };
    let kube = f.user.write_file(".kube/config", "apiVersion: v1\nkind: Config\n");
    // A program at the allowlisted path (the default pack allows kubectl for kube config).
    let planted = Planted::new("/usr/bin/cat", "/usr/local/bin/kubectl");
    let kubectl = planted.path.as_path();
    let (_, allowed_pid) = read_as(&f.user, &format!("{} {}", kubectl.display(), kube.display()));
    let (_, cat_pid) = read_as(&f.user, &format!("cat {}", kube.display()));
    let cat_alert = alert_for_pid(&f.sensor, cat_pid);
    assert!(cat_alert["rule"]["id"].as_str().is_some());
    // The allowed open was seen (an event), and did not alert.
    let seen = f.sensor.wait_for("allowed open event", WAIT, |d| {
        d["event"]["kind"] == "event"
            && is_action(d, "credential-store-opened")
            && d["process"]["pid"] == allowed_pid
    });
    assert_eq!(seen["file"]["path"], kube.display().to_string());
    let docs = f.sensor.stop();
    assert!(
        !docs.iter().any(|d| is_alert(d) && d["process"]["pid"] == allowed_pid),
        "allowlisted kubectl must not alert"
    );
}

#[test]
fn unrelated_files_never_leave_the_kernel() {
    let Some(f) = fixture("unrelated", &["--emit-events"]) else { return };
    let notes = f.user.write_file("notes.txt", "nothing secret\n");
    let before = f.sensor.stats();
    let n = 500;
    let out = f
        .user
        .sh(&format!(
            "python3 -c \"import os\nfor _ in range({n}): os.close(os.open('{}', os.O_RDONLY))\"",
            notes.display()
        ))
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let after = f.sensor.stats();
    let filtered = kernel_counter(&after, "open_filtered") - kernel_counter(&before, "open_filtered");
    assert!(filtered >= n, "kernel filtered {filtered} opens, expected at least {n}");
    let docs = f.sensor.stop();
    let path = notes.display().to_string();
    assert!(!docs.iter().any(|d| d["file"]["path"] == path), "no event for an unrelated file");
}

#[test]
fn ring_buffer_drops_are_counted_and_reported() {
    // A tiny ring buffer and a stopped consumer: exec records must overflow it.
    let Some(f) = fixture("drops", &["--ringbuf-bytes", "16384"]) else { return };
    f.sensor.signal(libc::SIGSTOP);
    sh("for i in $(seq 60); do /bin/true; done");
    f.sensor.signal(libc::SIGCONT);
    let stats = f.sensor.stats();
    let drops = kernel_counter(&stats, "ringbuf_drop_exec");
    assert!(drops > 0, "exec drops must be counted: {stats}");
    assert_eq!(
        stats["tokenwarden"]["sensor"]["kernel_ringbuf_drops"].as_u64(),
        Some(
            ["ringbuf_drop_open", "ringbuf_drop_exec", "ringbuf_drop_fork", "ringbuf_drop_exit"]
                .iter()
                .map(|n| kernel_counter(&stats, n))
                .sum::<u64>()
        )
    );
    let docs = f.sensor.stop();
    let stopped = docs.iter().find(|d| is_action(d, "sensor-stopped")).expect("sensor-stopped state");
    assert!(kernel_counter(stopped, "ringbuf_drop_exec") >= drops);
}

#[test]
fn secrets_in_command_lines_are_redacted() {
    let Some(f) = fixture("redact", &[]) else { return };
    let token = "ghp_Zq3vW8xYt2LmN9pQr4sTu7vWx0yZa1bC2dE3";
    let (_, pid) = read_as(&f.user, &format!("GH={token} && cat .aws/credentials --show-nonprinting"));
    let d = alert_for_pid(&f.sensor, pid);
    assert!(d["tokenwarden"]["process"]["ancestry"].is_array());
    let all = f.sensor.all_output();
    f.sensor.stop();
    assert!(!all.contains(token), "raw token leaked into the sensor's output");
    assert!(!all.contains("AKIAIOSFODNN7EXAMPLE"), "store content must never be read into output");
}

#[test]
fn every_open_syscall_is_covered() {
    let Some(f) = fixture("syscalls", &[]) else { return };
    let store = f.store.display().to_string();
    // Raw syscalls through ctypes: legacy open(2), creat(2) and openat2(2).
    let script = format!(
        r#"python3 -c "
import ctypes, os, struct
libc = ctypes.CDLL(None, use_errno=True)
p = b'{store}'
assert libc.syscall(2, p, os.O_RDONLY) >= 0, 'open'
assert libc.syscall(85, p, 0o600) >= 0, 'creat'
how = ctypes.create_string_buffer(struct.pack('QQQ', os.O_RDONLY, 0, 0))
assert libc.syscall(437, -100, p, how, 24) >= 0, 'openat2'
""#
    );
    let (_, pid) = read_as(&f.user, &script);
    for syscall in ["open", "creat", "openat2"] {
        let d = f.sensor.wait_for(&format!("{syscall} alert"), WAIT, |d| {
            is_alert(d) && d["process"]["pid"] == pid && d["tokenwarden"]["file"]["syscall"] == syscall
        });
        assert_eq!(d["file"]["path"], store);
        if syscall == "creat" {
            let flags = d["tokenwarden"]["file"]["open_flags"].as_array().expect("flags");
            assert!(flags.iter().any(|x| x == "O_WRONLY"), "creat opens for writing: {d}");
        }
    }
    f.sensor.stop();
}
