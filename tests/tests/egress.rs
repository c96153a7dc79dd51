//! Black-box egress tests (issue 4): real clients send a bearer JWT over HTTPS (OpenSSL
//! HTTP/1.1 and HTTP/2, Python, GnuTLS wget) and plain HTTP to loopback servers started
//! here; the sensor reports each credential use with the right fingerprint, claims,
//! destination and process, and the raw token appears nowhere in what it wrote.

use std::{
    io::Write as _,
    net::TcpListener,
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tests::{Sensor, Serial, TempDir, is_action, kernel_tests_enabled, sh, spawn_reporting_port};

const WAIT: Duration = Duration::from_secs(20);
const KEY: &[u8] = b"fleet-key-for-tests";

const SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "2"); self.end_headers(); self.wfile.write(b"ok")
    do_POST = do_GET
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
if sys.argv[1] == "tls":
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(sys.argv[2], sys.argv[3])
    s.socket = ctx.wrap_socket(s.socket, server_side=True)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;

struct Server(Child, u16);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn python_server(dir: &Path, tls: bool) -> Server {
    let script = dir.join("server.py");
    std::fs::write(&script, SERVER).expect("server script");
    let (child, port) = spawn_reporting_port(
        Command::new("python3")
            .arg(&script)
            .arg(if tls { "tls" } else { "plain" })
            .arg(dir.join("cert.pem"))
            .arg(dir.join("key.pem")),
    );
    Server(child, port)
}

/// `openssl s_server` negotiating h2 through ALPN: enough for curl to speak HTTP/2.
fn h2_server(dir: &Path) -> Server {
    let port = TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("addr").port();
    let child = Command::new("openssl")
        .args(["s_server", "-quiet", "-alpn", "h2", "-accept", &port.to_string()])
        .arg("-cert")
        .arg(dir.join("cert.pem"))
        .arg("-key")
        .arg(dir.join("key.pem"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Server(child, port)
}

fn jwt(sub: &str, iat: i64, exp: i64) -> String {
    let h = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","typ":"JWT"}"#);
    let c = URL_SAFE_NO_PAD
        .encode(format!(r#"{{"iss":"https://idp.test","sub":"{sub}","aud":"api","iat":{iat},"exp":{exp}}}"#));
    format!("{h}.{c}.{}", URL_SAFE_NO_PAD.encode(format!("signature-of-{sub}-0123456789")))
}

fn fingerprint(secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(KEY).expect("key");
    mac.update(secret.as_bytes());
    mac.finalize().into_bytes().iter().take(16).map(|b| format!("{b:02x}")).collect()
}

struct Env {
    dir: TempDir,
    sensor: Sensor,
    _serial: Serial,
}

fn env(tag: &str) -> Option<Env> {
    let serial = kernel_tests_enabled(tag)?;
    let dir = TempDir::new(tag);
    sh(&format!(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout {d}/key.pem -out {d}/cert.pem 2>/dev/null",
        d = dir.path().display()
    ));
    let key = dir.path().join("fingerprint.key");
    std::fs::write(&key, KEY).expect("key");
    let sensor = Sensor::start(&["--fingerprint-key-file", &key.display().to_string()]);
    sensor.wait_for("sensor-started", WAIT, |d| is_action(d, "sensor-started"));
    Some(Env { dir, sensor, _serial: serial })
}

fn use_of<'a>(docs: &'a [Value], path: &str) -> Option<&'a Value> {
    docs.iter().find(|d| is_action(d, "credential-used") && d["url"]["path"] == path)
}

fn check(d: &Value, token: &str, sub: &str, port: u16, exe_prefix: &str, tls: Option<&str>, version: &str) {
    let c = &d["tokenwarden"]["credential"];
    assert_eq!(c["kind"], "jwt", "{d}");
    assert_eq!(c["fingerprint"], fingerprint(token), "keyed fingerprint: {d}");
    assert_eq!(c["length"], token.len());
    assert_eq!(c["jwt"]["sub"], sub);
    assert_eq!(c["jwt"]["iss"], "https://idp.test");
    assert_eq!(c["jwt"]["alg"], "RS256");
    assert_eq!(c["jwt"]["lifetime_s"], 7200);
    assert_eq!(c["jwt"]["long_lived"], true, "2 h > the 1 h default");
    assert_eq!(c["bound"], false);
    assert_eq!(d["destination"]["ip"], "127.0.0.1");
    assert_eq!(d["destination"]["port"], port, "{d}");
    assert!(d["process"]["executable"].as_str().is_some_and(|e| e.contains(exe_prefix)), "process in {d}");
    assert!(d["process"]["pid"].as_u64().is_some_and(|p| p > 0));
    assert_eq!(d["tokenwarden"]["tls"]["library"], tls.map_or(Value::Null, Value::from));
    assert_eq!(d["http"]["version"], version);
}

#[test]
fn bearer_jwts_from_real_clients_are_fingerprinted_never_leaked() {
    let Some(e) = env("egress") else { return };
    let https = python_server(e.dir.path(), true);
    let plain = python_server(e.dir.path(), false);
    let h2 = h2_server(e.dir.path());
    let now =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let tokens: Vec<String> =
        ["curl1", "curl2", "python", "wget", "plain"].iter().map(|s| jwt(s, now, now + 7200)).collect();
    let [t_curl1, t_curl2, t_py, t_wget, t_plain] =
        [&tokens[0], &tokens[1], &tokens[2], &tokens[3], &tokens[4]];
    sh(&format!(
        "curl -sk --http1.1 -H 'Authorization: Bearer {t_curl1}' https://127.0.0.1:{}/curl-h1?x=1 -o /dev/null",
        https.1
    ));
    sh(&format!(
        "curl -sk --http2 -m 5 -H 'Authorization: Bearer {t_curl2}' https://127.0.0.1:{}/curl-h2 -o /dev/null || true",
        h2.1
    ));
    sh(&format!(
        "python3 -c \"import ssl, urllib.request as u; c=ssl._create_unverified_context(); u.urlopen(u.Request('https://127.0.0.1:{}/python', headers={{'Authorization': 'Bearer {t_py}'}}), context=c).read()\"",
        https.1
    ));
    sh(&format!(
        "wget -q --no-check-certificate --header 'Authorization: Bearer {t_wget}' -O /dev/null https://127.0.0.1:{}/wget",
        https.1
    ));
    sh(&format!(
        "curl -s -H 'Authorization: Bearer {t_plain}' http://127.0.0.1:{}/plain -o /dev/null",
        plain.1
    ));
    for path in ["/curl-h1", "/curl-h2", "/python", "/wget", "/plain"] {
        e.sensor.wait_for(path, WAIT, |d| is_action(d, "credential-used") && d["url"]["path"] == path);
    }
    let docs = e.sensor.docs();
    let d = use_of(&docs, "/curl-h1").expect("curl h1");
    check(d, t_curl1, "curl1", https.1, "/usr/bin/curl", Some("openssl"), "1.1");
    assert_eq!(d["url"]["query"], "x=1");
    check(
        use_of(&docs, "/curl-h2").expect("curl h2"),
        t_curl2,
        "curl2",
        h2.1,
        "/usr/bin/curl",
        Some("openssl"),
        "2",
    );
    check(
        use_of(&docs, "/python").expect("python"),
        t_py,
        "python",
        https.1,
        "python3",
        Some("openssl"),
        "1.1",
    );
    check(
        use_of(&docs, "/wget").expect("wget"),
        t_wget,
        "wget",
        https.1,
        "/usr/bin/wget",
        Some("gnutls"),
        "1.1",
    );
    check(use_of(&docs, "/plain").expect("plain"), t_plain, "plain", plain.1, "/usr/bin/curl", None, "1.1");
    let all = e.sensor.all_output();
    e.sensor.stop();
    for t in &tokens {
        assert!(!all.contains(t.as_str()), "raw token leaked");
        let sig = t.rsplit('.').next().expect("signature");
        assert!(!all.contains(sig), "token signature leaked");
    }
}

#[test]
fn a_process_that_loads_libssl_later_is_covered() {
    let Some(_serial) = kernel_tests_enabled("dlopen") else { return };
    let dir = TempDir::new("dlopen");
    sh(&format!(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout {d}/key.pem -out {d}/cert.pem 2>/dev/null",
        d = dir.path().display()
    ));
    let https = python_server(dir.path(), true);
    // The client starts before the sensor, without libssl, and imports ssl (dlopen of
    // _ssl and libssl) only when told to.
    let token = jwt("late", 1000, 8200);
    let mut client = Command::new("python3")
        .args(["-S", "-c"])
        .arg(format!(
            "import sys\nsys.stdin.readline()\nimport ssl, urllib.request as u\nc=ssl._create_unverified_context()\nu.urlopen(u.Request('https://127.0.0.1:{}/late', headers={{'Authorization': 'Bearer {token}'}}), context=c).read()\nprint('done', flush=True)",
            https.1
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("client");
    std::thread::sleep(Duration::from_millis(300));
    let maps = std::fs::read_to_string(format!("/proc/{}/maps", client.id())).expect("maps");
    assert!(!maps.contains("libssl"), "libssl must not be loaded yet");
    let key = dir.path().join("k");
    std::fs::write(&key, KEY).expect("key");
    let sensor = Sensor::start(&["--fingerprint-key-file", &key.display().to_string()]);
    client.stdin.take().expect("stdin").write_all(b"go\n").expect("go");
    let status = client.wait().expect("client");
    assert!(status.success());
    let d = sensor
        .wait_for("late request", WAIT, |d| is_action(d, "credential-used") && d["url"]["path"] == "/late");
    assert_eq!(d["tokenwarden"]["credential"]["fingerprint"], fingerprint(&token));
    assert_eq!(d["process"]["pid"], client.id());
    sensor.stop();
}

#[test]
fn aws_sigv4_reports_the_key_id_not_the_signature() {
    let Some(e) = env("sigv4") else { return };
    let https = python_server(e.dir.path(), true);
    let sig = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024";
    let session = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample";
    sh(&format!(
        "curl -sk -H 'Authorization: AWS4-HMAC-SHA256 Credential=ASIAIOSFODNN7EXAMPLE/20261204/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature={sig}' -H 'X-Amz-Security-Token: {session}' https://127.0.0.1:{}/bucket/key -o /dev/null",
        https.1
    ));
    let d = e.sensor.wait_for("sigv4 use", WAIT, |d| {
        is_action(d, "credential-used") && d["url"]["path"] == "/bucket/key"
    });
    let creds = d["tokenwarden"]["credentials"].as_array().expect("credentials");
    let v4 = creds.iter().find(|c| c["kind"] == "aws_sigv4").expect("sigv4");
    assert_eq!(v4["key_id"], "ASIAIOSFODNN7EXAMPLE");
    assert_eq!(v4["long_term_key"], false);
    let st = creds.iter().find(|c| c["kind"] == "aws_session_token").expect("session token");
    assert_eq!(st["fingerprint"], fingerprint(session));
    let all = e.sensor.all_output();
    e.sensor.stop();
    assert!(!all.contains(sig), "signature leaked");
    assert!(!all.contains(session), "session token leaked");
}

const STATIC_CLIENT: &str = r#"
#include <openssl/ssl.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int port = atoi(argv[1]);
    const char *token = argv[2];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET; a.sin_port = htons(port); a.sin_addr.s_addr = htonl(0x7f000001);
    if (connect(fd, (struct sockaddr *)&a, sizeof a)) return 2;
    SSL *ssl = SSL_new(ctx);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1) return 3;
    char req[4096];
    int n = snprintf(req, sizeof req, "GET /static HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n", token);
    if (SSL_write(ssl, req, n) != n) return 4;
    char buf[256];
    SSL_read(ssl, buf, sizeof buf);
    return 0;
}
"#;

#[test]
fn statically_linked_openssl_binaries_are_attached() {
    let Some(e) = env("static") else { return };
    let https = python_server(e.dir.path(), true);
    let src = e.dir.path().join("client.c");
    std::fs::write(&src, STATIC_CLIENT).expect("source");
    let bin = e.dir.path().join("static-client");
    // OpenSSL linked statically (libssl.a, libcrypto.a), libc dynamically.
    sh(&format!(
        "gcc -O1 -o {} {} -Wl,-Bstatic -lssl -lcrypto -Wl,-Bdynamic -ldl -lpthread",
        bin.display(),
        src.display()
    ));
    let ldd = sh(&format!("ldd {} || true", bin.display()));
    assert!(!ldd.contains("libssl"), "the client must not load libssl dynamically: {ldd}");
    let token = jwt("static", 1000, 1600);
    // The first run is seen at exec; its TLS write may race the attach, so retry once the
    // sensor says the binary is attached.
    let run = || Command::new(&bin).arg(https.1.to_string()).arg(&token).status().expect("client");
    assert!(run().success());
    e.sensor.wait_for("static binary attached", WAIT, |d| {
        is_action(d, "tls-library-attached") && d["tokenwarden"]["sensor"]["static"] == true
    });
    assert!(run().success());
    let d = e.sensor.wait_for("static request", WAIT, |d| {
        is_action(d, "credential-used") && d["url"]["path"] == "/static"
    });
    assert_eq!(d["tokenwarden"]["credential"]["fingerprint"], fingerprint(&token));
    assert_eq!(d["process"]["executable"], bin.display().to_string());
    assert_eq!(d["tokenwarden"]["tls"]["library"], "openssl");
    let all = e.sensor.all_output();
    e.sensor.stop();
    assert!(!all.contains(&token), "raw token leaked");
}

#[test]
fn connections_dns_names_and_unix_sockets_are_reported() {
    let Some(_serial) = kernel_tests_enabled("connect") else { return };
    let dir = TempDir::new("connect");
    let plain = python_server(dir.path(), false);
    let unix_path = dir.path().join("agent.sock");
    let key = dir.path().join("k");
    std::fs::write(&key, KEY).expect("key");
    let sensor = Sensor::start(&["--emit-events", "--fingerprint-key-file", &key.display().to_string()]);
    let script = format!(
        r#"
import socket, struct
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in "exfil.tokenwarden.test".split(".")) + b"\x00\x00\x01\x00\x01"
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(q, ("127.0.0.1", 53))
t = socket.create_connection(("127.0.0.1", {port})); print(t.getsockname()[1], flush=True)
srv = socket.socket(socket.AF_UNIX); srv.bind("{unix}"); srv.listen(1)
c = socket.socket(socket.AF_UNIX); c.connect("{unix}")
"#,
        port = plain.1,
        unix = unix_path.display()
    );
    let out = Command::new("python3").arg("-c").arg(script).output().expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let local_port: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().expect("local port");
    let dns = sensor.wait_for("dns query", WAIT, |d| is_action(d, "dns-query"));
    assert_eq!(dns["dns"]["question"]["name"], "exfil.tokenwarden.test");
    assert_eq!(dns["dns"]["question"]["type"], "A");
    let tcp = sensor.wait_for("tcp connect", WAIT, |d| {
        is_action(d, "connection-attempted") && d["destination"]["port"] == plain.1
    });
    assert_eq!(tcp["destination"]["ip"], "127.0.0.1");
    assert_eq!(tcp["destination"]["domain"], "exfil.tokenwarden.test", "named by the query just before");
    assert_eq!(tcp["source"]["port"], local_port, "local end of the socket");
    assert_eq!(tcp["event"]["outcome"], "success");
    let unix = sensor.wait_for("unix connect", WAIT, |d| {
        is_action(d, "connection-attempted") && d["destination"]["address"] == unix_path.display().to_string()
    });
    assert!(unix["process"]["executable"].as_str().is_some_and(|e| e.contains("python3")));
    sensor.stop();
}

#[test]
fn a_client_certificate_makes_the_request_sender_constrained() {
    let Some(e) = env("mtls") else { return };
    let https = python_server(e.dir.path(), true);
    let token = jwt("mtls", 1000, 1600);
    let d = e.dir.path().display().to_string();
    sh(&format!(
        "curl -sk --cert {d}/cert.pem --key {d}/key.pem -H 'Authorization: Bearer {token}' https://127.0.0.1:{}/mtls -o /dev/null",
        https.1
    ));
    sh(&format!(
        "curl -sk -H 'Authorization: Bearer {token}' https://127.0.0.1:{}/no-mtls -o /dev/null",
        https.1
    ));
    let bound = e
        .sensor
        .wait_for("mtls use", WAIT, |d| is_action(d, "credential-used") && d["url"]["path"] == "/mtls");
    let unbound = e
        .sensor
        .wait_for("plain use", WAIT, |d| is_action(d, "credential-used") && d["url"]["path"] == "/no-mtls");
    assert_eq!(bound["tokenwarden"]["credential"]["bound"], true, "client certificate: bound");
    assert_eq!(unbound["tokenwarden"]["credential"]["bound"], false, "plain bearer: unbound");
    e.sensor.stop();
}
