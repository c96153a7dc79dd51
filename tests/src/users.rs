//! Throw-away local users with real home directories.

use std::{path::PathBuf, process::Command};

/// A user created with `useradd -m`, removed (with its home) on drop.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
}

impl TestUser {
    pub fn create(tag: &str) -> TestUser {
        let name = format!("tw{tag}{}", std::process::id() % 100_000);
        let _ = Command::new("userdel").args(["-r", &name]).output();
        let out =
            Command::new("useradd").args(["-m", "-s", "/bin/sh", &name]).output().expect("spawn useradd");
        assert!(out.status.success(), "useradd {name}: {}", String::from_utf8_lossy(&out.stderr));
        let id = |flag: &str| -> u32 {
            let o = Command::new("id").args([flag, &name]).output().expect("id");
            String::from_utf8_lossy(&o.stdout).trim().parse().expect("numeric id")
        };
        TestUser { uid: id("-u"), gid: id("-g"), home: PathBuf::from(format!("/home/{name}")), name }
    }

    /// Writes `rel` under the home, owned by the user, mode 0600.
    pub fn write_file(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.home.join(rel);
        let parent = p.parent().expect("parent");
        std::fs::create_dir_all(parent).expect("mkdir");
        std::fs::write(&p, content).expect("write");
        let status = Command::new("chown")
            .args(["-R", &format!("{}:{}", self.uid, self.gid)])
            .arg(&self.home)
            .status()
            .expect("chown");
        assert!(status.success());
        let status = Command::new("chmod").arg("600").arg(&p).status().expect("chmod");
        assert!(status.success());
        p
    }

    /// Runs `script` with `sh` as this user; panics with its stderr when it fails.
    pub fn run(&self, script: &str) {
        let out = self.sh(script).output().expect("run");
        assert!(out.status.success(), "`{script}`: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A command that runs `script` with `sh` as this user.
    pub fn sh(&self, script: &str) -> Command {
        let mut c = Command::new("setpriv");
        c.args([
            &format!("--reuid={}", self.uid),
            &format!("--regid={}", self.gid),
            "--init-groups",
            "--reset-env",
            "sh",
            "-c",
            script,
        ]);
        c.current_dir(&self.home);
        c
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", "-f", &self.name]).output();
    }
}
