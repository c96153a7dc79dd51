use std::time::Duration;

use super::*;
use crate::detect::credentials::Credential;

fn party(pid: u32, uid: u32, parent: &str, ancestors: &[&str]) -> Party {
    Party {
        pid,
        entity_id: format!("e{pid}"),
        executable: "/usr/bin/x".into(),
        uid,
        loginuid: None,
        sessionid: None,
        ancestors: ancestors.iter().map(|s| s.to_string()).collect(),
        parent_entity: parent.into(),
    }
}

fn cred(fp: &str, kind: &'static str) -> Credential {
    Credential {
        kind,
        location: "header:authorization".into(),
        fingerprint: fp.into(),
        preview: String::new(),
        length: 20,
        key_id: None,
        jwt: None,
        bound: false,
    }
}

fn store(path: &str) -> Provenance {
    Provenance {
        path: path.into(),
        owner_uid: 1000,
        rule_id: "cred-test".into(),
        kind: "store",
        endpoint: None,
    }
}

fn correlator() -> Correlator {
    Correlator::new(
        CorrelationConfig { window: Duration::from_secs(60), ..CorrelationConfig::default() },
        Fingerprinter::new(b"k"),
    )
}

fn never(_: &Provenance, _: &str) -> bool {
    false
}

#[test]
fn exfiltration_needs_a_related_reader_and_is_deduplicated() {
    let mut c = correlator();
    let reader = party(2, 1000, "e1", &["e1"]);
    c.on_store_open(store("/nonexistent/.aws/credentials"), 0, "/nonexistent", reader);
    let stranger = party(9, 1000, "e8", &["e8"]);
    assert!(c.on_request(&stranger, &[], "example.com", "1.2.3.4:443", &never).is_empty());
    let sender = party(3, 1000, "e1", &["e1"]);
    let f = c.on_request(&sender, &[], "example.com", "1.2.3.4:443", &never);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].kind, FindingKind::Exfiltration);
    assert_eq!(f[0].other.as_ref().map(|o| o.pid), Some(2));
    assert!(
        c.on_request(&sender, &[], "example.com", "1.2.3.4:443", &never).is_empty(),
        "one alert per window"
    );
    assert_eq!(c.counters.deduplicated, 1);
}

#[test]
fn provenance_checks_program_and_destination() {
    let dir = std::env::temp_dir().join(format!("tw-prov-{}", std::process::id()));
    std::fs::create_dir_all(dir.join(".kube")).expect("mkdir");
    let path = dir.join(".kube/config");
    std::fs::write(&path, "clusters:\n- cluster:\n    server: https://k8s.example:6443\nusers:\n- user:\n    token: tok-0123456789abcdef\n")
        .expect("write");
    let mut c = correlator();
    let p = path.display().to_string();
    c.on_store_open(store(&p), 0, &p, party(2, 1000, "e1", &["e1"]));
    let fp = Fingerprinter::new(b"k").fingerprint(b"tok-0123456789abcdef");
    assert_eq!(c.provenance(&fp).map(|p| p.endpoint.clone()), Some(Some("k8s.example".into())));
    let other = party(30, 1000, "e20", &["e20"]);
    let owner = |_: &Provenance, exe: &str| exe == "/usr/local/bin/kubectl";
    let mut kubectl = other.clone();
    kubectl.executable = "/usr/local/bin/kubectl".into();
    assert!(
        c.on_request(&kubectl, &[cred(&fp, "bearer")], "k8s.example", "k8s:6443", &owner).is_empty(),
        "owner to its server"
    );
    let f = c.on_request(&other, &[cred(&fp, "bearer")], "evil.example", "6.6.6.6:443", &owner);
    let misuse = f.iter().find(|f| f.kind == FindingKind::StoredTokenMisuse).expect("misuse");
    assert_eq!(misuse.store.as_ref().map(|s| s.path.as_str()), Some(p.as_str()));
    assert_eq!(misuse.other.as_ref().map(|r| r.pid), Some(2), "names who read the store");
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn reuse_across_users_and_weak_credentials() {
    let mut c = correlator();
    let a = party(2, 1000, "e1", &["e1"]);
    let b = party(3, 1001, "e5", &["e5"]);
    assert!(c.on_request(&a, &[cred("fp1", "bearer")], "h", "d", &never).is_empty());
    assert!(c.on_request(&a, &[cred("fp1", "bearer")], "h", "d", &never).is_empty(), "same user again");
    let f = c.on_request(&b, &[cred("fp1", "bearer")], "h", "d", &never);
    assert_eq!(f.iter().filter(|f| f.kind == FindingKind::TokenReuse).count(), 1);
    let mut akia = cred("fp2", "aws_sigv4");
    akia.key_id = Some("AKIAIOSFODNN7EXAMPLE".into());
    let f = c.on_request(&a, &[akia], "s3.amazonaws.com", "d", &never);
    assert!(f.iter().any(|f| f.kind == FindingKind::WeakCredential && f.severity == "low"));
}

#[test]
fn index_is_bounded() {
    let dir = std::env::temp_dir().join(format!("tw-bound-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut c = Correlator::new(
        CorrelationConfig { max_index: 3, ..CorrelationConfig::default() },
        Fingerprinter::new(b"k"),
    );
    for i in 0..5 {
        let p = dir.join(format!("{i}.vault-token"));
        std::fs::write(&p, format!("hvs.token-number-{i}-abcdefghijklmnop")).expect("write");
        let s = p.display().to_string();
        c.on_store_open(store(&s), 0, &s, party(2, 1000, "e1", &["e1"]));
    }
    assert!(c.index_len() <= 3);
    assert!(c.counters.index_evictions >= 2);
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
fn repeats_become_a_summary_when_the_window_ends() {
    let mut c = Correlator::new(
        CorrelationConfig { window: Duration::from_millis(50), ..CorrelationConfig::default() },
        Fingerprinter::new(b"k"),
    );
    c.on_store_open(store("/x/.netrc"), 0, "/nonexistent", party(2, 1000, "e1", &["e1"]));
    let sender = party(3, 1000, "e1", &["e1"]);
    let first = c.on_request(&sender, &[], "h", "d", &never);
    assert_eq!(first.len(), 1);
    assert!(c.on_request(&sender, &[], "h", "d", &never).is_empty());
    assert!(c.take_summaries().is_empty(), "window still open");
    std::thread::sleep(Duration::from_millis(80));
    assert_eq!(c.take_summaries(), vec![(first[0].key.clone(), 2)]);
}
