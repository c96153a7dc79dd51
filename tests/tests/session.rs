//! Jump-host session theft (issue 6, partial): another user's ssh-agent, process
//! environment and memory, and Kerberos ccache, with real programs and real users.

use std::{process::Command, time::Duration};

use tests::{Sensor, is_action, is_alert, kernel_tests_enabled, sh, users::TestUser};

const WAIT: Duration = Duration::from_secs(20);

/// Starts an ssh-agent as `user` with a real key added; returns (socket, agent pid).
fn agent(user: &TestUser) -> (String, u32) {
    let out = user
        .sh("eval $(ssh-agent -s) >/dev/null; ssh-keygen -q -t ed25519 -N '' -f ./id_test; ssh-add -q ./id_test; echo $SSH_AUTH_SOCK $SSH_AGENT_PID")
        .output()
        .expect("ssh-agent");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace();
    (it.next().expect("socket").to_string(), it.next().expect("pid").parse().expect("pid"))
}

#[test]
fn using_another_users_ssh_agent_alerts_the_owners_own_use_does_not() {
    let Some(_serial) = kernel_tests_enabled("agent") else { return };
    let alice = TestUser::create("aa");
    let bob = TestUser::create("ab");
    let (a_sock, a_pid) = agent(&alice);
    let (b_sock, b_pid) = agent(&bob);
    let sensor = Sensor::start(&[]);
    for (u, sock) in [(&alice, &a_sock), (&bob, &b_sock)] {
        let out = u.sh(&format!("SSH_AUTH_SOCK={sock} ssh-add -l")).output().expect("ssh-add");
        assert!(out.status.success(), "owner lists own keys");
    }
    let out = Command::new("ssh-add").arg("-l").env("SSH_AUTH_SOCK", &a_sock).output().expect("root ssh-add");
    assert!(out.status.success(), "root can use alice's agent: that is the theft");
    let d = sensor.wait_for("hijack", WAIT, |d| is_action(d, "ssh-agent-hijack"));
    assert_eq!(d["tokenwarden"]["target"]["socket"], a_sock.as_str());
    assert_eq!(d["tokenwarden"]["target"]["owner_uid"], alice.uid);
    assert_eq!(d["process"]["executable"], "/usr/bin/ssh-add");
    assert_eq!(d["process"]["user"]["id"], "0");
    let subs = d["threat"]["technique"]["subtechnique"]["id"].as_array().expect("subtechniques");
    assert!(subs.iter().any(|t| t == "T1563.001"));
    let docs = sensor.stop();
    let hijacks: Vec<_> = docs.iter().filter(|d| is_action(d, "ssh-agent-hijack")).collect();
    assert_eq!(hijacks.len(), 1, "the owners' own use raised nothing: {hijacks:?}");
    sh(&format!("kill {a_pid} {b_pid} || true"));
}

#[test]
fn reading_another_users_process_environment_and_memory_alerts() {
    let Some(_serial) = kernel_tests_enabled("procscrape") else { return };
    let alice = TestUser::create("pe");
    let token = "ghp_Zq3vW8xYt2LmN9pQr4sTu7vWx0yZa1bC2dE3";
    let out = alice
        .sh(&format!("GITHUB_TOKEN={token} setsid sleep 60 >/dev/null 2>&1 & echo $!"))
        .output()
        .expect("victim");
    let victim: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid");
    std::thread::sleep(Duration::from_millis(200));
    let sensor = Sensor::start(&[]);
    // Alice reading her own process: nothing.
    let own = alice.sh(&format!("cat /proc/{victim}/environ > /dev/null")).output().expect("own read");
    assert!(own.status.success());
    // Root scraping it.
    sh(&format!(
        "python3 -c \"open('/proc/{victim}/environ','rb').read(); open('/proc/{victim}/mem','rb')\""
    ));
    let env = sensor
        .wait_for("environ alert", WAIT, |d| is_alert(d) && d["rule"]["id"] == "proc-environ-other-user");
    assert_eq!(env["tokenwarden"]["target"]["pid"], victim);
    assert_eq!(env["tokenwarden"]["target"]["executable"], "/usr/bin/sleep");
    assert_eq!(env["tokenwarden"]["target"]["user"]["id"], alice.uid.to_string());
    let mem = sensor.wait_for("mem alert", WAIT, |d| is_alert(d) && d["rule"]["id"] == "proc-mem-other-user");
    assert_eq!(mem["tokenwarden"]["target"]["pid"], victim);
    assert!(mem["tokenwarden"]["sequence"].is_null(), "mem without maps first: {mem}");
    // maps (where the heap and stacks are), then mem: one sequence, critical.
    let own_maps = alice.sh(&format!("cat /proc/{victim}/maps > /dev/null")).output().expect("own maps");
    assert!(own_maps.status.success());
    sh(&format!("python3 -c \"open('/proc/{victim}/maps').read(); open('/proc/{victim}/mem','rb')\""));
    let seq = sensor.wait_for("maps-then-mem alert", WAIT, |d| {
        is_alert(d) && d["rule"]["id"] == "proc-mem-other-user" && !d["tokenwarden"]["sequence"].is_null()
    });
    assert_eq!(seq["tokenwarden"]["sequence"]["name"], "maps-then-mem", "{seq}");
    assert_eq!(seq["tokenwarden"]["severity"], "critical", "{seq}");
    assert_eq!(seq["event"]["severity"], 99);
    let all = sensor.all_output();
    let docs = sensor.stop();
    let alice_uid = alice.uid.to_string();
    assert!(
        !docs.iter().any(|d| is_alert(d) && d["process"]["user"]["id"].as_str() == Some(alice_uid.as_str())),
        "alice reading her own process is not an alert"
    );
    assert!(!all.contains(token), "the scraped token never appears");
    sh(&format!("kill {victim} || true"));
}

#[test]
fn root_reading_another_users_kerberos_ccache_alerts() {
    let Some(_serial) = kernel_tests_enabled("krb5") else { return };
    let alice = TestUser::create("kc");
    let ccache = format!("/tmp/krb5cc_{}", alice.uid);
    let made = alice.sh(&format!("umask 077; printf 'ticket' > {ccache}")).output().expect("ccache");
    assert!(made.status.success());
    let sensor = Sensor::start(&[]);
    sh(&format!("cat {ccache} > /dev/null"));
    let d = sensor.wait_for("ccache alert", WAIT, |d| is_alert(d) && d["file"]["path"] == ccache.as_str());
    assert_eq!(d["rule"]["id"], "cred-kerberos");
    let subs = d["threat"]["technique"]["subtechnique"]["id"].as_array().expect("subtechniques");
    assert!(subs.iter().any(|t| t == "T1558.005"));
    assert_eq!(d["tokenwarden"]["cross_user"], true);
    assert_eq!(d["process"]["executable"], "/usr/bin/cat");
    sensor.stop();
    let _ = std::fs::remove_file(&ccache);
}

#[test]
fn taking_another_users_persistent_keyring_alerts() {
    let Some(_serial) = kernel_tests_enabled("keyring") else { return };
    let alice = TestUser::create("kr");
    let sensor = Sensor::start(&[]);
    // Alice keeps a (stand-in) Kerberos ticket in her persistent keyring, as
    // `KEYRING:persistent:<uid>` ccaches do; her own access is not an alert.
    let own = alice
        .sh("k=$(keyctl get_persistent @u) && keyctl add user krb_ccache:primary fake-ticket \"$k\" >/dev/null")
        .output()
        .expect("keyctl as alice");
    assert!(own.status.success(), "alice's keyring: {}", String::from_utf8_lossy(&own.stderr));
    // Root takes hers.
    sh(&format!("keyctl get_persistent @s {} >/dev/null", alice.uid));
    let d = sensor.wait_for("keyring alert", WAIT, |d| is_action(d, "kerberos-keyring-access"));
    assert_eq!(d["event"]["kind"], "alert");
    assert_eq!(d["rule"]["id"], "tw-session-keyring-access");
    assert_eq!(d["tokenwarden"]["target"]["user"]["id"], alice.uid.to_string(), "{d}");
    assert_eq!(d["tokenwarden"]["target"]["user"]["name"], alice.name.as_str(), "{d}");
    assert_eq!(d["process"]["executable"], "/usr/bin/keyctl");
    let subs = d["threat"]["technique"]["subtechnique"]["id"].as_array().expect("subtechniques");
    assert!(subs.iter().any(|t| t == "T1558.005"), "{d}");
    let docs = sensor.stop();
    let keyring_alerts = docs.iter().filter(|d| is_action(d, "kerberos-keyring-access")).count();
    assert_eq!(keyring_alerts, 1, "alice's own keyctl calls are not alerts");
}

#[test]
fn keytabs_anywhere_are_matched_in_the_kernel_by_suffix() {
    let Some(_serial) = kernel_tests_enabled("keytab") else { return };
    let dir = tests::TempDir::new("keytab");
    let keytab = dir.path().join("svc").join("http.keytab");
    std::fs::create_dir_all(keytab.parent().expect("parent")).expect("dir");
    std::fs::write(&keytab, b"\x05\x02keytab").expect("keytab");
    let decoy = dir.path().join("svc").join("http.keytab.txt");
    std::fs::write(&decoy, b"notes").expect("decoy");
    let sensor = Sensor::start(&["--emit-events"]);
    sh(&format!("cat {} {} > /dev/null", decoy.display(), keytab.display()));
    let path = keytab.display().to_string();
    let d = sensor.wait_for("keytab alert", WAIT, |d| is_alert(d) && d["file"]["path"] == path.as_str());
    assert_eq!(d["rule"]["id"], "cred-kerberos");
    assert_eq!(d["tokenwarden"]["file"]["kernel_match"], "suffix", "the kernel matched the name suffix: {d}");
    let docs = sensor.stop();
    let started = docs.iter().find(|d| tests::is_action(d, "sensor-started")).expect("started");
    assert_eq!(started["tokenwarden"]["sensor"]["rules"]["kernel_pass_all"], false, "{started}");
    let decoy = decoy.display().to_string();
    assert!(!docs.iter().any(|d| d["file"]["path"] == decoy.as_str()), "decoy never left the kernel");
}

const TRACER: &str = r#"
import ctypes, sys
libc = ctypes.CDLL(None, use_errno=True)
pid = int(sys.argv[1])
libc.ptrace(16, pid, 0, 0)            # PTRACE_ATTACH
libc.ptrace(17, pid, 0, 0)            # PTRACE_DETACH
start = int(open(f"/proc/{pid}/maps").readline().split("-")[0], 16)
class IOV(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(8)
local, remote = IOV(ctypes.addressof(buf), 8), IOV(start, 8)
libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
"#;

#[test]
fn ptrace_and_process_vm_readv_on_another_users_process_alert() {
    let Some(_serial) = kernel_tests_enabled("ptrace") else { return };
    let alice = TestUser::create("pt");
    let out = alice.sh("setsid sleep 60 >/dev/null 2>&1 & echo $!").output().expect("victim");
    let victim: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("pid");
    let script = std::env::temp_dir().join(format!("tw-tracer-{}.py", std::process::id()));
    std::fs::write(&script, TRACER).expect("tracer");
    sh(&format!("chmod 644 {}", script.display()));
    let sensor = Sensor::start(&[]);
    // Alice on her own process: not an alert (Yama may refuse; the intent is the same user's).
    let _ = alice.sh(&format!("python3 {} {victim}", script.display())).output().expect("own");
    sh(&format!("python3 {} {victim}", script.display()));
    for what in ["ptrace(PTRACE_ATTACH)", "process_vm_readv"] {
        let d = sensor.wait_for(what, WAIT, |d| {
            is_action(d, "process-memory-access") && d["tokenwarden"]["syscall"] == what
        });
        assert_eq!(d["tokenwarden"]["target"]["pid"], victim);
        assert_eq!(d["tokenwarden"]["target"]["executable"], "/usr/bin/sleep");
        assert_eq!(d["process"]["user"]["id"], "0");
        let subs = d["threat"]["technique"]["subtechnique"]["id"].as_array().expect("subtechniques");
        assert!(subs.iter().any(|t| t == "T1003.007") && subs.iter().any(|t| t == "T1055.008"));
    }
    let docs = sensor.stop();
    let alice_uid = alice.uid.to_string();
    assert!(
        !docs.iter().any(|d| is_action(d, "process-memory-access")
            && d["process"]["user"]["id"].as_str() == Some(alice_uid.as_str())),
        "same-user debugging is not an alert"
    );
    let _ = std::fs::remove_file(&script);
    sh(&format!("kill {victim} || true"));
}

/// A real sshd on a loopback port, with PAM (pam_loginuid sets the audit session).
struct Sshd(std::process::Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn alerts_carry_the_ssh_login_session_and_client_address() {
    let Some(_serial) = kernel_tests_enabled("sshd") else { return };
    let alice = TestUser::create("ss");
    alice.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    let dir = tests::TempDir::new("sshd");
    let d = dir.path().display().to_string();
    sh(&format!(
        "ssh-keygen -q -t ed25519 -N '' -f {d}/host && ssh-keygen -q -t ed25519 -N '' -f {d}/client"
    ));
    let public = std::fs::read_to_string(format!("{d}/client.pub")).expect("client key");
    alice.write_file(".ssh/authorized_keys", &public);
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    std::fs::write(
        format!("{d}/sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nPidFile {d}/sshd.pid\nUsePAM yes\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\nAuthorizedKeysFile .ssh/authorized_keys\nLogLevel ERROR\n"
        ),
    )
    .expect("config");
    sh("mkdir -p /run/sshd");
    let _sshd = Sshd(
        Command::new("/usr/sbin/sshd")
            .args(["-D", "-f", &format!("{d}/sshd_config"), "-E", &format!("{d}/sshd.log")])
            .spawn()
            .expect("sshd"),
    );
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let sensor = Sensor::start(&[]);
    let out = Command::new("ssh")
        .args(["-i", &format!("{d}/client"), "-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
        ])
        .arg(format!("{}@127.0.0.1", alice.name))
        .arg("cat ~/.aws/credentials > /dev/null; sleep 1")
        .output()
        .expect("ssh");
    assert!(
        out.status.success(),
        "ssh login: {} {}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(format!("{d}/sshd.log")).unwrap_or_default()
    );
    let a = sensor
        .wait_for("alert over ssh", WAIT, |d| is_alert(d) && d["process"]["executable"] == "/usr/bin/cat");
    let s = &a["tokenwarden"]["session"];
    assert_eq!(s["loginuid"], alice.uid, "pam_loginuid set the login uid: {s}");
    assert_eq!(s["user"], alice.name.as_str());
    assert!(s["id"].as_u64().is_some(), "audit session id: {s}");
    assert!(s["sshd"]["pid"].as_u64().is_some(), "the session's sshd: {s}");
    assert_eq!(s["client"]["ip"], "127.0.0.1", "client address from sshd's socket: {s}");
    assert!(s["client"]["port"].as_u64().is_some_and(|p| p > 0 && p != u64::from(port)));
    assert_eq!(a["tokenwarden"]["process"]["loginuid"], alice.uid);
    sensor.stop();
}

#[test]
fn an_unexpected_program_on_the_kerberos_kcm_socket_alerts() {
    let Some(_serial) = kernel_tests_enabled("kcm") else { return };
    let socket = "/run/.heim_org.h5l.kcm-socket";
    if std::path::Path::new(socket).exists() {
        eprintln!("skipped: a real KCM socket exists at {socket}");
        assert!(std::env::var("CI").is_err(), "CI machines have no KCM daemon");
        return;
    }
    // A stand-in KCM listener, then a client that is not a Kerberos program.
    let mut server = Command::new("python3")
        .args(["-c", &format!("import socket,time\ns=socket.socket(socket.AF_UNIX); s.bind('{socket}'); s.listen(4)\nprint('up', flush=True)\ntime.sleep(30)")])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("listener");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().expect("stdout")),
        &mut line,
    )
    .expect("up");
    let sensor = Sensor::start(&[]);
    sh(&format!("python3 -c \"import socket; socket.socket(socket.AF_UNIX).connect('{socket}')\""));
    let d = sensor.wait_for("kcm alert", WAIT, |d| is_action(d, "kerberos-kcm-access"));
    assert_eq!(d["destination"]["address"], socket);
    assert!(d["process"]["executable"].as_str().is_some_and(|e| e.contains("python3")));
    let subs = d["threat"]["technique"]["subtechnique"]["id"].as_array().expect("subtechniques");
    assert!(subs.iter().any(|t| t == "T1558.005"));
    sensor.stop();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(socket);
}
