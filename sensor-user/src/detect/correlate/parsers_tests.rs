use super::*;

fn kinds(v: &[Found]) -> Vec<&str> {
    v.iter().map(|f| f.kind).collect()
}

#[test]
fn aws_credentials_ini() {
    let t = "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\n[tmp]\naws_access_key_id=ASIAXXXXXXXXXXXXXXXX\naws_session_token = IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD\n";
    let f = parse("/home/a/.aws/credentials", t.as_bytes());
    assert_eq!(
        kinds(&f),
        vec!["aws_access_key_id", "aws_secret_access_key", "aws_access_key_id", "aws_session_token"]
    );
    assert_eq!(f[0].secret, "AKIAIOSFODNN7EXAMPLE");
    assert_eq!(f[0].endpoint.as_deref(), Some("amazonaws.com"));
}

#[test]
fn kubeconfig_tokens_keys_and_server() {
    let t = "apiVersion: v1\nclusters:\n- cluster:\n    server: https://10.0.0.1:6443\n  name: c\nusers:\n- name: admin\n  user:\n    token: abcdef0123456789.kubetoken\n    client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t\n";
    let f = parse("/root/.kube/config", t.as_bytes());
    assert_eq!(kinds(&f), vec!["bearer", "client_key"]);
    assert_eq!(f[0].endpoint.as_deref(), Some("10.0.0.1"));
}

#[test]
fn json_caches_docker_gcloud_azure() {
    let docker = br#"{"auths":{"registry.example.com":{"auth":"dXNlcjpwYXNzd29yZDEyMw=="}}}"#;
    let f = parse("/home/a/.docker/config.json", docker);
    assert_eq!(kinds(&f), vec!["basic"]);
    let adc = br#"{"client_id":"x.apps.googleusercontent.com","client_secret":"d-FL95Q19q7MQmFpd7hHD0Ty","refresh_token":"1//0gexamplerefreshtoken-abcdefghij","type":"authorized_user"}"#;
    let f = parse("/home/a/.config/gcloud/application_default_credentials.json", adc);
    assert!(kinds(&f).contains(&"refresh_token") && kinds(&f).contains(&"client_secret"), "{f:?}");
    let msal = br#"{"AccessToken":{"k":{"secret":"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL21hbmFnZW1lbnQifQ.sig"}},"RefreshToken":{"k":{"secret":"0.AXoAexamplerefresh"}}}"#;
    let f = parse("/home/a/.azure/msal_token_cache.json", msal);
    assert!(f.iter().any(|x| x.secret.starts_with("eyJ0eXAi")), "{f:?}");
}

#[test]
fn netrc_git_credentials_gh_vault_sa_token() {
    let f = parse("/home/a/.netrc", b"machine api.example.com login alice password s3cretpassw0rd\n");
    assert_eq!(f[0].kind, "basic");
    assert_eq!(f[0].secret, STANDARD.encode("alice:s3cretpassw0rd"));
    assert_eq!(f[0].endpoint.as_deref(), Some("api.example.com"));
    let f = parse(
        "/home/a/.git-credentials",
        b"https://alice:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com\n",
    );
    assert!(f.iter().any(|x| x.kind == "token" && x.secret.starts_with("ghp_")), "{f:?}");
    let f = parse(
        "/home/a/.config/gh/hosts.yml",
        b"github.com:\n    user: alice\n    oauth_token: gho_abcdefghijklmnopqrstuvwxyz0123456789\n",
    );
    assert_eq!((f[0].kind, f[0].endpoint.as_deref()), ("github_token", Some("github.com")));
    let f = parse("/home/a/.vault-token", b"hvs.CAESIexamplevaulttoken0123456789\n");
    assert_eq!(f[0].kind, "vault_token");
    let f = parse(
        "/run/secrets/kubernetes.io/serviceaccount/token",
        b"eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2EifQ.sig",
    );
    assert_eq!(f[0].kind, "bearer");
}

#[test]
fn malformed_stores_never_panic() {
    for (path, body) in [
        ("/home/a/.aws/credentials", &b"[broken\n=\n==\naws_access_key_id\n"[..]),
        ("/root/.kube/config", b"\xff\xfe\x00token:"),
        ("/home/a/.docker/config.json", b"{\"auths\": [1, {"),
        ("/home/a/.netrc", b"machine"),
        ("/home/a/.git-credentials", b"https://@:\n://"),
        ("/home/a/.config/gh/hosts.yml", b":\n  oauth_token:"),
        (
            "/home/a/.config/gcloud/credentials.db",
            b"SQLite format 3\x00\x01eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4eHh4eCJ9.c2ln",
        ),
    ] {
        let f = parse(path, body);
        assert!(f.iter().all(|x| x.secret.len() >= 8), "{path}: {f:?}");
    }
    assert_eq!(host_of("https://[::1]:6443/x"), "::1");
    assert_eq!(host_of("h.example:443"), "h.example");
}

#[test]
fn debug_never_prints_the_secret() {
    let f = parse("/home/a/.vault-token", b"hvs.CAESIexamplevaulttoken0123456789");
    assert!(!format!("{f:?}").contains("CAESI"));
}
