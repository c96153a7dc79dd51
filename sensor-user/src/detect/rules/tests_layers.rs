//! Conditions, macros, exceptions and layering across files.

use super::{
    test_util::{has, src},
    *,
};

fn errors(sources: &[Source]) -> Vec<String> {
    match RuleSet::compile(sources) {
        Ok(_) => panic!("expected errors"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

const BASE: &str = "tokenwarden_rules: 1
lists:
  shells: [/usr/bin/bash, /usr/bin/dash]
macros:
  from_shell: process.parent.executable in (shells)
rules:
  - id: r1
    name: R1
    severity: high
    techniques: [T1552.001]
    event: file_open
    files: [\"**/.aws/credentials\"]
    condition: from_shell and not process.executable startswith \"/opt/\"
    output: o
";

fn facts<'a>(exe: &'a str, parent: &'a str, path: &'a str) -> Facts<'a> {
    Facts {
        paths: vec![path],
        executable: exe,
        parent_executable: parent,
        uid: 1000,
        file_uid: 1000,
        ..Facts::default()
    }
}

#[test]
fn conditions_with_macros_and_lists_evaluate() {
    let set = RuleSet::compile(&[src("a.yaml", BASE)]).expect("valid");
    let p = "/home/a/.aws/credentials";
    assert_eq!(set.match_event(&facts("/usr/bin/cat", "/usr/bin/bash", p)), vec![0]);
    assert!(set.match_event(&facts("/usr/bin/cat", "/usr/sbin/cron", p)).is_empty(), "macro false");
    assert!(set.match_event(&facts("/opt/x/cat", "/usr/bin/bash", p)).is_empty(), "not startswith");
    assert!(set.match_event(&facts("/usr/bin/cat", "/usr/bin/bash", "/tmp/x")).is_empty(), "files gate");
}

#[test]
fn operators_lineage_and_session_predicates() {
    let rule = |cond: &str| {
        let text = BASE.replace("from_shell and not process.executable startswith \"/opt/\"", cond);
        RuleSet::compile(&[src("a.yaml", &text)]).unwrap_or_else(|e| panic!("{cond}: {e}"))
    };
    let mut f = facts("/usr/bin/python3.11", "/usr/bin/bash", "/home/a/.aws/credentials");
    f.ancestors = vec!["/usr/bin/bash", "/usr/sbin/sshd"];
    f.loginuid = Some(1001);
    f.euid = 0;
    for (cond, want) in [
        ("process.ancestors.executable in (\"/usr/sbin/sshd\")", true),
        ("process.ancestors.executable glob \"/usr/sbin/*\"", true),
        ("process.executable regex \"python3\\\\.[0-9]+$\"", true),
        ("process.executable endswith \".11\" and file.name = \"credentials\"", true),
        ("process.executable contains \"perl\"", false),
        ("process.effective_user.id = 0 and process.user.id >= 1000", true),
        ("process.user.id < 1000", false),
        ("same_user", true),
        ("other_session", true),
        ("same_session", false),
        ("tokenwarden.process.loginuid exists", true),
        ("file.write = true", false),
        ("not (file.directory = \"/home/a/.aws\")", false),
        ("process.executable != \"/usr/bin/cat\" or file.uid = 0", true),
    ] {
        assert_eq!(!rule(cond).match_event(&f).is_empty(), want, "{cond}");
    }
}

#[test]
fn condition_errors_point_inside_the_condition() {
    let bad = |cond: &str| {
        errors(&[src(
            "a.yaml",
            &BASE.replace("from_shell and not process.executable startswith \"/opt/\"", cond),
        )])
    };
    // The condition value starts at line 13, column 16.
    has(&bad("nosuch_macro and same_user"), "a.yaml:13:16:", "unknown macro 'nosuch_macro'");
    has(&bad("same_user and file.pathx = \"x\""), "a.yaml:13:30:", "unknown field 'file.pathx'");
    has(
        &bad("process.user.id = \"root\""),
        "a.yaml:13:34:",
        "type mismatch: process.user.id is a number, got a string",
    );
    has(&bad("file.path = 3"), "a.yaml:13:28:", "type mismatch: file.path is a string, got a number");
    has(&bad("process.executable regex \"(unclosed\""), "a.yaml:13:41:", "invalid regex");
    has(&bad("process.executable in (nolist)"), "a.yaml:13:39:", "unknown list 'nolist'");
    has(&bad("file.path glob"), "a.yaml:13:30:", "expected a value");
    has(&bad("process.pid glob \"1*\""), "a.yaml:13:33:", "is a number");
}

#[test]
fn macro_cycles_and_errors_are_reported_at_the_macro() {
    let text = "tokenwarden_rules: 1
macros:
  a: b and same_user
  b: c
  c: a
  broken: file.path = = 
rules: []
";
    let errs = errors(&[src("m.yaml", text)]);
    has(&errs, "m.yaml:", "macro cycle");
    has(&errs, "m.yaml:6:23:", "expected a value");
}

#[test]
fn block_scalar_conditions_locate_errors() {
    let text = BASE.replace(
        "    condition: from_shell and not process.executable startswith \"/opt/\"\n",
        "    condition: >\n      from_shell and\n      file.nope = \"x\"\n",
    );
    has(&errors(&[src("a.yaml", &text)]), "a.yaml:15:7:", "unknown field 'file.nope'");
}

const SITE: &str = "tokenwarden_rules: 1
lists:
  shells: {append: [/usr/bin/zsh]}
rules:
  - id: r1
    append:
      allowed_executables: [/opt/backup/agent]
      exceptions:
        - name: ops-break-glass
          executables: [/usr/bin/cat]
          users: [4242]
  - id: r1
    override:
      severity: critical
";

#[test]
fn layering_appends_overrides_and_counts_exceptions() {
    let set = RuleSet::compile(&[src("base.yaml", BASE), src("site.yaml", SITE)]).expect("valid layering");
    let r = &set.rules()[0];
    assert_eq!(r.severity, Severity::Critical, "override applied");
    assert!(r.allowed_executables.contains(&"/opt/backup/agent".to_string()));
    let p = "/home/a/.aws/credentials";
    assert!(set.match_event(&facts("/opt/backup/agent", "/usr/bin/bash", p)).is_empty(), "appended allow");
    assert_eq!(set.match_event(&facts("/usr/bin/cat", "/usr/bin/zsh", p)), vec![0], "appended list item");
    let mut ops = facts("/usr/bin/cat", "/usr/bin/bash", p);
    ops.uid = 4242;
    assert!(set.match_event(&ops).is_empty(), "exception silences");
    assert!(set.match_event(&ops).is_empty());
    assert_eq!(set.exception_hits(), vec![("r1", "ops-break-glass", 2)], "each hit counted");
    // Other users are still caught: the exception is narrow.
    assert_eq!(set.match_event(&facts("/usr/bin/cat", "/usr/bin/bash", p)), vec![0]);
    assert_eq!(set.exception_hits()[0].2, 2);
}

#[test]
fn disable_by_id_and_layering_errors() {
    let off = "tokenwarden_rules: 1\nrules:\n  - id: r1\n    override: {enabled: false}\n";
    let set = RuleSet::compile(&[src("base.yaml", BASE), src("off.yaml", off)]).expect("valid");
    assert_eq!(set.enabled_count(), 0);
    assert!(set.match_event(&facts("/usr/bin/cat", "/usr/bin/bash", "/root/.aws/credentials")).is_empty());

    let bad = "tokenwarden_rules: 1
rules:
  - id: nope
    append: {files: [/x]}
  - id: r1
    append: {severity: low}
  - id: r1
    name: again
    override: {enabled: false}
";
    let errs = errors(&[src("base.yaml", BASE), src("bad.yaml", bad)]);
    has(&errs, "bad.yaml:3:9:", "`append` of unknown rule 'nope'");
    has(&errs, "bad.yaml:6:14:", "unknown field 'severity' in append");
    has(&errs, "bad.yaml:9:15:", "may only have `id` and `override`");
}

#[test]
fn duplicate_rule_in_a_later_file_must_use_override() {
    let errs = errors(&[src("a.yaml", BASE), src("b.yaml", BASE)]);
    has(
        &errs,
        "b.yaml:7:9:",
        "duplicate rule id 'r1' (first defined at a.yaml:7:9; use `override` or `append`",
    );
}

#[test]
fn condition_only_rule_is_allowed_but_unfilterable() {
    let text = "tokenwarden_rules: 1
rules:
  - id: any-json
    name: any json under /srv
    severity: low
    techniques: [T1552]
    event: file_open
    condition: file.path regex \"^/srv/.*\\\\.json$\"
    output: o
";
    let set = RuleSet::compile(&[src("c.yaml", text)]).expect("valid");
    assert!(set.kernel_filter().pass_all);
    assert!(set.warnings.iter().any(|w| w.contains("any-json") && w.contains("cannot be prefiltered")));
    assert_eq!(set.match_event(&facts("/usr/bin/cat", "", "/srv/a/b.json")), vec![0]);
}

#[test]
fn files_from_an_empty_list_is_an_error_not_watch_everything() {
    let text = BASE
        .replace("shells: [/usr/bin/bash, /usr/bin/dash]", "shells: [/usr/bin/bash]\n  nothing: []")
        .replace("files: [\"**/.aws/credentials\"]", "files: [nothing]");
    has(&errors(&[src("a.yaml", &text)]), "a.yaml:8:9:", "`files` expands to nothing");
}

#[test]
fn exception_validation() {
    let text = BASE.replace(
        "    output: o\n",
        "    output: o\n    exceptions:\n      - name: empty\n      - {name: x, users: [bob], colour: red}\n",
    );
    let errs = errors(&[src("a.yaml", &text)]);
    has(&errs, "a.yaml:16:9:", "exception matches everything");
    has(&errs, "a.yaml:17:33:", "unknown field 'colour' in exception");
}

#[test]
fn the_default_pack_test_cases_pass_with_full_coverage() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules");
    let set = RuleSet::compile(&[embedded_default()]).expect("default pack");
    let cases = testcases::load(&[dir]).unwrap_or_else(|e| panic!("{e}"));
    let report = testcases::run(&set, &cases, true);
    assert!(report.failed.is_empty(), "{:#?}", report.failed);
    assert!(report.passed.len() >= 2 * set.enabled_count());
}
