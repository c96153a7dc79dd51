use super::{
    test_util::{has, src},
    *,
};

fn errors(text: &str) -> Vec<String> {
    match RuleSet::compile(&[src("t.yaml", text)]) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

const GOOD: &str = "tokenwarden_rules: 1
lists:
  aws_programs: [/usr/local/bin/aws, \"/usr/local/aws-cli/**\"]
rules:
  - id: cred-aws
    name: AWS credentials
    severity: high
    techniques: [T1552.001]
    event: file_open
    files: [\"**/.aws/credentials\"]
    allowed_executables: [aws_programs]
    output: \"{process.executable} opened {file.path}\"
";

fn rule(extra: &str) -> String {
    format!(
        "tokenwarden_rules: 1\nrules:\n  - id: r1\n    name: R\n    severity: high\n    techniques: [T1552]\n    event: file_open\n    files: [\"**/x\"]\n    output: \"o\"\n{extra}"
    )
}

#[test]
fn good_file_compiles_and_matches() {
    let set = RuleSet::compile(&[src("t.yaml", GOOD)]).expect("valid");
    assert_eq!(set.rules().len(), 1);
    assert_eq!(set.match_open(&["/root/.aws/credentials"], "/usr/bin/cat"), vec![0]);
    assert_eq!(set.match_open(&["/home/alice/.aws/credentials"], "/usr/bin/python3.11"), vec![0]);
    assert!(set.match_open(&["/home/alice/.aws/credentials.bak"], "/usr/bin/cat").is_empty());
    assert!(set.match_open(&["/home/alice/.aws/credentials"], "/usr/local/bin/aws").is_empty());
    assert!(
        set.match_open(&["/home/alice/.aws/credentials"], "/usr/local/aws-cli/v2/2.15/dist/aws").is_empty()
    );
    assert!(set.is_watched(&["/home/alice/.aws/credentials"]));
    assert!(!set.is_watched(&["/home/alice/notes.txt"]));
}

#[test]
fn unknown_field_points_at_the_key() {
    let errs = errors(&rule("    serverity: high\n"));
    has(&errs, "t.yaml:10:5:", "unknown field 'serverity'");
}

#[test]
fn every_error_is_reported_at_once() {
    let text = "tokenwarden_rules: 1
rules:
  - id: Bad_ID
    name: [x]
    severity: extreme
    techniques: [T15, T1552.1]
    event: file_read
    files: [\"**/[x\"]
    allowed_executables: [no_such_list, relative/path]
    output: \"{process.nope}\"
";
    let errs = errors(text);
    has(&errs, "t.yaml:3:9:", "invalid rule id 'Bad_ID'");
    has(&errs, "t.yaml:4:11:", "expected a string, got sequence");
    has(&errs, "t.yaml:5:15:", "unknown severity 'extreme'");
    has(&errs, "t.yaml:6:18:", "invalid ATT&CK technique id 'T15'");
    has(&errs, "t.yaml:6:23:", "'T1552.1'");
    has(&errs, "t.yaml:7:12:", "unknown event kind 'file_read'");
    has(&errs, "t.yaml:10:13:", "unknown field '{process.nope}'");
    assert!(errs.len() >= 7, "{errs:#?}");
}

#[test]
fn list_and_glob_errors_have_positions() {
    let text = "tokenwarden_rules: 1
rules:
  - id: r1
    name: R
    severity: low
    techniques: [T1552]
    event: file_open
    files: [\"**/[x\", relative/path]
    allowed_executables: [no_such_list]
    output: o
";
    let errs = errors(text);
    has(&errs, "t.yaml:8:13:", "invalid glob '**/[x'");
    has(&errs, "t.yaml:8:22:", "must be absolute or start with **/");
    has(&errs, "t.yaml:9:27:", "unknown list 'no_such_list'");
}

#[test]
fn yaml_syntax_error_has_position() {
    let errs = errors("tokenwarden_rules: 1\nrules:\n  - id: [unclosed\n");
    assert!(errs.iter().any(|e| e.starts_with("t.yaml:") && e.contains("YAML syntax error")), "{errs:?}");
}

#[test]
fn schema_version_is_required_and_checked() {
    has(&errors("rules: []\n"), "t.yaml:1:1:", "missing `tokenwarden_rules: 1`");
    has(&errors("tokenwarden_rules: 2\nrules: []\n"), "t.yaml:1:20:", "unsupported schema version 2");
}

#[test]
fn missing_required_fields_and_wrong_types() {
    let errs = errors("tokenwarden_rules: 1\nrules:\n  - id: r1\n    enabled: maybe\n");
    has(&errs, "t.yaml:3:5:", "missing required field 'name'");
    has(&errs, "t.yaml:3:5:", "rule needs `files` or a `condition`");
    has(&errs, "t.yaml:4:14:", "expected true or false, got string");
    let errs = errors(&rule("    files: []\n").replace("    files: [\"**/x\"]\n", ""));
    has(&errs, "t.yaml:", "`files` is empty");
}

#[test]
fn duplicate_ids_across_files_point_at_the_second() {
    let a = src("a.yaml", GOOD);
    let b = src("b.yaml", GOOD);
    let Err(e) = RuleSet::compile(&[a, b]) else { panic!("duplicate ids must fail") };
    let errs = e.errors;
    let msg =
        errs.iter().map(ToString::to_string).find(|e| e.contains("duplicate rule id")).expect("dup error");
    assert!(msg.starts_with("b.yaml:5:9:") && msg.contains("first defined at a.yaml:5:9"), "{msg}");
}

#[test]
fn disabled_rules_do_not_match() {
    let set =
        RuleSet::compile(&[src("t.yaml", &GOOD.replace("    event:", "    enabled: false\n    event:"))])
            .expect("valid");
    assert_eq!(set.enabled_count(), 0);
    assert!(set.match_open(&["/root/.aws/credentials"], "/usr/bin/cat").is_empty());
}

#[test]
fn exclusions_and_any_path_candidate() {
    let text = rule("    exclude_files: [\"**/*.pub\"]\n").replace("\"**/x\"", "\"**/.ssh/id_*\"");
    let set = RuleSet::compile(&[src("t.yaml", &text)]).expect("valid");
    assert_eq!(set.match_open(&["/home/a/.ssh/id_ed25519"], "/usr/bin/cat"), vec![0]);
    assert!(set.match_open(&["/home/a/.ssh/id_ed25519.pub"], "/usr/bin/cat").is_empty());
    // A hard link's own name does not match, the store path found by inode does.
    assert_eq!(set.match_open(&["/tmp/innocent", "/home/a/.ssh/id_rsa"], "/usr/bin/cat"), vec![0]);
}

#[test]
fn render_output_fills_placeholders() {
    let set = RuleSet::compile(&[src("t.yaml", GOOD)]).expect("valid");
    let r = &set.rules()[0];
    let msg = r.render_output(&|f| match f {
        "process.executable" => Some("/usr/bin/cat".into()),
        _ => None,
    });
    assert_eq!(msg, "/usr/bin/cat opened -");
}

#[test]
fn kernel_filter_derivation() {
    let n = |p: &str| pattern_names(p).unwrap_or_else(|| panic!("{p} should be filterable"));
    assert_eq!(
        n("**/.aws/credentials"),
        vec![NameMatch { name: b"credentials".to_vec(), prefix: false, positions: 1 }]
    );
    assert_eq!(
        n("**/*.keytab"),
        vec![NameMatch { name: b".keytab".to_vec(), prefix: true, positions: super::POS_SUFFIX }]
    );
    assert_eq!(n("/etc/*.keytab")[0].name, b"etc".to_vec(), "a literal directory is preferred to a suffix");
    assert_eq!(n("/tmp/krb5cc_*"), vec![NameMatch { name: b"krb5cc_".to_vec(), prefix: true, positions: 1 }]);
    assert_eq!(
        n("**/.aws/cli/cache/*.json"),
        vec![NameMatch { name: b"cache".to_vec(), prefix: false, positions: 2 }]
    );
    assert_eq!(
        n("**/.config/gcloud/legacy_credentials/**"),
        vec![NameMatch { name: b"legacy_credentials".to_vec(), prefix: false, positions: 0b11110 }]
    );
    assert_eq!(n("/etc/kubernetes/pki/etcd/*.key")[0].name, b"etcd".to_vec());
    let alts = n("**/Default/{Login Data,Local State}");
    assert_eq!(alts.len(), 2);
    assert!(pattern_names("/**/*").is_none(), "no literal component: cannot prefilter");
    assert!(pattern_names("/a/*/*/*/*/*").is_none(), "literal beyond depth 4");
    let long = format!("**/{}", "x".repeat(80));
    assert!(n(&long)[0].prefix && n(&long)[0].name.len() == kfilter::MAX_NAME);
}

#[test]
fn unfilterable_rule_forces_pass_all() {
    let set = RuleSet::compile(&[src("t.yaml", &rule("").replace("\"**/x\"", "\"/**/*\""))]).expect("valid");
    let f = set.kernel_filter();
    assert!(f.pass_all);
    assert_eq!(f.unfilterable, vec!["r1 (/**/*)".to_string()]);
}

/// One representative store path per store class the default pack must cover.
const STORES: &[&str] = &[
    "/home/alice/.aws/credentials",
    "/root/.aws/config",
    "/home/alice/.aws/cli/cache/0123abcd.json",
    "/home/alice/.aws/sso/cache/token.json",
    "/home/alice/.kube/config",
    "/etc/kubernetes/admin.conf",
    "/etc/kubernetes/pki/ca.key",
    "/var/lib/kubelet/kubeconfig",
    "/etc/rancher/k3s/k3s.yaml",
    "/run/secrets/kubernetes.io/serviceaccount/..2026_01_01_00_00_00.000000001/token",
    "/var/run/secrets/kubernetes.io/serviceaccount/token",
    "/run/secrets/eks.amazonaws.com/serviceaccount/token",
    "/run/secrets/azure/tokens/azure-identity-token",
    "/home/alice/.config/gcloud/application_default_credentials.json",
    "/home/alice/.config/gcloud/credentials.db",
    "/home/alice/.config/gcloud/access_tokens.db",
    "/home/alice/.config/gcloud/legacy_credentials/alice@example.com/adc.json",
    "/home/alice/.config/gcloud/legacy_credentials/alice@example.com/.boto",
    "/home/alice/.azure/msal_token_cache.json",
    "/home/alice/.azure/msal_token_cache.bin",
    "/home/alice/.azure/accessTokens.json",
    "/home/alice/.docker/config.json",
    "/home/alice/.ssh/id_ed25519",
    "/root/.ssh/id_rsa",
    "/tmp/krb5cc_1000",
    "/etc/krb5.keytab",
    "/home/alice/.netrc",
    "/home/alice/.git-credentials",
    "/home/alice/.config/gh/hosts.yml",
    "/home/alice/.vault-token",
    "/home/alice/.npmrc",
    "/home/alice/.pypirc",
    "/home/alice/.terraform.d/credentials.tfrc.json",
    "/home/alice/.config/google-chrome/Default/Cookies",
    "/home/alice/.config/chromium/Profile 1/Login Data",
    "/home/alice/.config/microsoft-edge/Local State",
    "/home/alice/.config/BraveSoftware/Brave-Browser/Default/Network/Cookies",
    "/home/alice/.mozilla/firefox/abcd.default-release/cookies.sqlite",
    "/home/alice/.mozilla/firefox/abcd.default-release/logins.json",
    "/home/alice/.mozilla/firefox/abcd.default-release/key4.db",
    "/etc/shadow",
    "/etc/gshadow",
];

#[test]
fn default_pack_covers_every_store() {
    let set =
        RuleSet::compile(&[embedded_default()]).unwrap_or_else(|e| panic!("default pack invalid:\n{e}"));
    for r in set.rules() {
        assert!(!r.techniques.is_empty(), "{} has no technique", r.id);
    }
    let f = set.kernel_filter();
    assert!(!f.pass_all, "default pack must be prefilterable: {:?}", f.unfilterable);
    for path in STORES {
        assert!(!set.match_open(&[path], "/usr/bin/cat").is_empty(), "no rule alerts for cat opening {path}");
        let comps: Vec<&str> = path.rsplit('/').take(5).collect();
        let kernel_passes = f.names.iter().any(|n| {
            comps.iter().enumerate().any(|(depth, c)| {
                n.positions & (1 << depth) != 0
                    && if n.prefix { c.as_bytes().starts_with(&n.name) } else { c.as_bytes() == n.name }
            })
        });
        assert!(kernel_passes, "kernel filter would drop {path}");
    }
    for benign in ["/home/alice/.ssh/id_ed25519.pub", "/home/alice/notes.txt", "/etc/passwd"] {
        assert!(!set.is_watched(&[benign]), "{benign} must not be watched");
    }
}

#[test]
fn default_pack_allows_owner_programs() {
    let set = RuleSet::compile(&[embedded_default()]).expect("valid");
    for (path, exe) in [
        ("/root/.kube/config", "/usr/local/bin/kubectl"),
        ("/home/alice/.aws/credentials", "/usr/local/aws-cli/v2/current/dist/aws"),
        ("/home/alice/.ssh/id_rsa", "/usr/bin/ssh"),
        ("/etc/shadow", "/usr/sbin/unix_chkpwd"),
        ("/home/alice/.config/google-chrome/Default/Cookies", "/opt/google/chrome/chrome"),
        ("/tmp/krb5cc_1000", "/usr/bin/klist"),
    ] {
        assert!(set.match_open(&[path], exe).is_empty(), "{exe} must be allowed to open {path}");
    }
    for interp in ["/usr/bin/python3.11", "/usr/bin/bash", "/usr/bin/cat", "/usr/bin/cp", "/usr/bin/tar"] {
        assert!(!set.match_open(&["/home/alice/.aws/credentials"], interp).is_empty(), "{interp} must alert");
    }
}

#[test]
fn load_paths_reads_directories_in_order_and_skips_tests() {
    let dir = std::env::temp_dir().join(format!("tw-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("b.yaml"), "tokenwarden_rules: 1\n").expect("write");
    std::fs::write(dir.join("a.yml"), "tokenwarden_rules: 1\n").expect("write");
    std::fs::write(dir.join("a.test.yaml"), "x").expect("write");
    std::fs::write(dir.join("notes.txt"), "x").expect("write");
    let s = load_paths(std::slice::from_ref(&dir)).expect("load");
    let names: Vec<&str> = s.iter().map(|s| s.name.rsplit('/').next().unwrap_or_default()).collect();
    assert_eq!(names, vec!["a.yml", "b.yaml"]);
    let Err(missing) = load_paths(&[dir.join("nope.yaml")]) else { panic!("missing file must fail") };
    assert!(missing.to_string().contains("nope.yaml"));
    std::fs::remove_dir_all(&dir).expect("cleanup");
}
