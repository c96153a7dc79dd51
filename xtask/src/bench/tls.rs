//! `tls_request_loop`: a real HTTPS client (curl, OpenSSL) doing HTTP/1.1 keep-alive
//! requests to a loopback nginx. The sensor hooks `SSL_write` and copies every request
//! head, so this is the cost of TLS capture on a busy client.

use std::{
    net::TcpStream,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail};

use super::{
    procs::{self, Proc, TempDir},
    rounds::{NO_FLOOR, Workload},
};

/// nginx with a temporary prefix, config and self-signed certificate.
pub struct Nginx {
    // Field order: the process stops before its directory goes.
    proc: Proc,
    _dir: TempDir,
    pub port: u16,
}

impl Nginx {
    pub fn start() -> anyhow::Result<Nginx> {
        let dir = TempDir::new("nginx")?;
        let d = dir.path();
        crate::output(
            Command::new("openssl")
                .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
                .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout"])
                .arg(d.join("key.pem"))
                .arg("-out")
                .arg(d.join("cert.pem")),
        )
        .context("self-signed certificate for nginx")?;
        let port = procs::free_port()?;
        let conf = d.join("nginx.conf");
        std::fs::write(&conf, config(d, port)).with_context(|| format!("write {}", conf.display()))?;
        let mut cmd = Command::new("nginx");
        cmd.arg("-p").arg(d).arg("-e").arg(d.join("error.log")).arg("-c").arg(&conf);
        cmd.args(["-g", "daemon off;"]).stdout(Stdio::null());
        let mut proc = Proc::spawn("nginx", &mut cmd, Some(&d.join("stderr.log")))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            proc.check_running()?;
            if Instant::now() > deadline {
                bail!("nginx not listening on 127.0.0.1:{port} after 10 s{}", proc.log_tail());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Nginx { proc, _dir: dir, port })
    }

    /// The workload: `curl` fetching `n` URLs over one kept-alive connection.
    pub fn workload(&self, target: Duration) -> Workload<'_> {
        Workload {
            name: "tls_request_loop",
            states: NO_FLOOR,
            target,
            probe_n: 200,
            run: Box::new(|n| self.requests(n)),
        }
    }

    fn requests(&self, n: u64) -> anyhow::Result<Duration> {
        self.check()?;
        // URL globbing: one curl handle, so one TLS connection for all n requests.
        let mut cmd = Command::new("curl");
        cmd.args(["-sSfk", "--http1.1", "-o", "/dev/null"])
            .arg(format!("https://127.0.0.1:{}/[1-{n}]", self.port));
        procs::run_timed("curl", &mut cmd, Duration::from_secs(120))
    }

    fn check(&self) -> anyhow::Result<()> {
        TcpStream::connect(("127.0.0.1", self.port))
            .map(drop)
            .with_context(|| format!("nginx stopped listening on port {}", self.port))
    }

    pub fn stop(self) -> anyhow::Result<()> {
        self.proc.stop()
    }
}

fn config(dir: &Path, port: u16) -> String {
    let d = dir.display();
    format!(
        "worker_processes 1;\n\
         master_process off;\n\
         pid {d}/nginx.pid;\n\
         error_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
         \x20 access_log off;\n\
         \x20 client_body_temp_path {d}/body;\n\
         \x20 proxy_temp_path {d}/proxy;\n\
         \x20 fastcgi_temp_path {d}/fastcgi;\n\
         \x20 uwsgi_temp_path {d}/uwsgi;\n\
         \x20 scgi_temp_path {d}/scgi;\n\
         \x20 server {{\n\
         \x20   listen 127.0.0.1:{port} ssl;\n\
         \x20   ssl_certificate {d}/cert.pem;\n\
         \x20   ssl_certificate_key {d}/key.pem;\n\
         \x20   keepalive_requests 100000000;\n\
         \x20   keepalive_timeout 300s;\n\
         \x20   location / {{ return 200 \"ok\"; }}\n\
         \x20 }}\n\
         }}\n"
    )
}
