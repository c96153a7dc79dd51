//! Rule test cases (`*.test.yaml`, kept beside the rules): an input event or a short
//! sequence, and whether a named rule must or must not alert.
//!
//! ```yaml
//! tokenwarden_rule_tests: 1
//! tests:
//!   - name: cat reads AWS credentials
//!     rule: cred-aws-shared
//!     expect: alert                    # or no_alert
//!     event:                           # or `events: [ {...}, ... ]`
//!       process.executable: /usr/bin/cat
//!       file.path: /home/alice/.aws/credentials
//! ```

use std::{collections::HashMap, path::PathBuf};

use super::{
    RuleSet,
    error::{Pos, RuleError, RuleErrors},
    facts::{Facts, Field, Kind},
    yaml::{self, Node, Value},
};

/// One event of a test, owning its values.
#[derive(Debug, Clone, Default)]
pub struct TestEvent {
    strs: HashMap<Field, Vec<String>>,
    nums: HashMap<Field, u64>,
    write: bool,
}

impl TestEvent {
    fn facts(&self) -> Facts<'_> {
        let s = |f: Field| self.strs.get(&f).and_then(|v| v.first()).map_or("", String::as_str);
        let list =
            |f: Field| self.strs.get(&f).map(|v| v.iter().map(String::as_str).collect()).unwrap_or_default();
        let n = |f: Field| self.nums.get(&f).map(|v| *v as u32);
        let path = list(Field::FilePath);
        Facts {
            paths: path,
            executable: s(Field::ProcessExecutable),
            name: s(Field::ProcessName),
            command_line: s(Field::ProcessCommandLine),
            pid: n(Field::ProcessPid).unwrap_or(1000),
            uid: n(Field::ProcessUserId).unwrap_or(1000),
            euid: n(Field::ProcessEffectiveUserId).or(n(Field::ProcessUserId)).unwrap_or(1000),
            loginuid: n(Field::LoginUid),
            sessionid: n(Field::SessionId),
            parent_executable: s(Field::ProcessParentExecutable),
            ancestors: list(Field::ProcessAncestorsExecutable),
            file_uid: n(Field::FileUid).unwrap_or(1000),
            file_write: self.write,
        }
    }
}

/// A test case.
#[derive(Debug, Clone)]
pub struct TestCase {
    pub name: String,
    pub rule: String,
    pub expect_alert: bool,
    pub events: Vec<TestEvent>,
    pub pos: Pos,
}

/// Outcome of `rules test`.
#[derive(Debug, Default)]
pub struct Report {
    pub passed: Vec<String>,
    /// `file:line:col: message` per failure.
    pub failed: Vec<String>,
}

fn event(node: &Node, errs: &mut Vec<RuleError>) -> Option<TestEvent> {
    let Value::Map(m) = &node.value else {
        errs.push(
            node.pos.error(format!("expected an event (mapping of field: value), got {}", node.kind())),
        );
        return None;
    };
    let mut ev = TestEvent::default();
    for (k, v) in m {
        let Some(name) = k.as_str() else { continue };
        let Some((field, kind)) = Field::parse(name) else {
            errs.push(k.pos.error(format!("unknown event field '{name}'")));
            continue;
        };
        match (kind, &v.value) {
            (Kind::Str, Value::Str(s)) => {
                ev.strs.insert(field, vec![s.clone()]);
            }
            (Kind::Str, Value::Seq(items)) => {
                ev.strs.insert(field, items.iter().filter_map(|i| i.as_str().map(String::from)).collect());
            }
            (Kind::Num, Value::Int(i)) if *i >= 0 => {
                ev.nums.insert(field, *i as u64);
            }
            (Kind::Bool, Value::Bool(b)) => ev.write = *b,
            _ => errs.push(v.pos.error(format!("type mismatch for '{name}': got {}", v.kind()))),
        }
    }
    Some(ev)
}

/// Reads one test file.
pub fn parse_tests(name: &str, text: &str) -> Result<Vec<TestCase>, RuleErrors> {
    let root = yaml::parse(name, text).map_err(|e| RuleErrors { errors: vec![e] })?;
    let mut errs = Vec::new();
    let mut out = Vec::new();
    let Value::Map(top) = &root.value else {
        return Err(RuleErrors { errors: vec![root.pos.error("expected a mapping")] });
    };
    let get = |m: &[(Node, Node)], key: &str| {
        m.iter().find(|(k, _)| k.as_str() == Some(key)).map(|(_, v)| v.clone())
    };
    if get(top, "tokenwarden_rule_tests").map(|v| v.value) != Some(Value::Int(1)) {
        errs.push(root.pos.error("missing `tokenwarden_rule_tests: 1`"));
    }
    let tests = match get(top, "tests") {
        Some(Node { value: Value::Seq(items), .. }) => items,
        _ => {
            errs.push(root.pos.error("expected `tests:` with a list of test cases"));
            Vec::new()
        }
    };
    for t in &tests {
        let Value::Map(m) = &t.value else {
            errs.push(t.pos.error("expected a test case (mapping)"));
            continue;
        };
        for (k, _) in m {
            if !["name", "rule", "expect", "event", "events"].contains(&k.as_str().unwrap_or_default()) {
                errs.push(k.pos.error(format!("unknown field '{}' in test", k.as_str().unwrap_or("?"))));
            }
        }
        let text = |key: &str, errs: &mut Vec<RuleError>| match get(m, key) {
            Some(Node { value: Value::Str(s), .. }) => Some(s),
            _ => {
                errs.push(t.pos.error(format!("test needs a string `{key}`")));
                None
            }
        };
        let (Some(tname), Some(rule), Some(expect)) =
            (text("name", &mut errs), text("rule", &mut errs), text("expect", &mut errs))
        else {
            continue;
        };
        let expect_alert = match expect.as_str() {
            "alert" => true,
            "no_alert" => false,
            other => {
                errs.push(t.pos.error(format!("expect must be `alert` or `no_alert`, got '{other}'")));
                continue;
            }
        };
        let events: Vec<TestEvent> = match (get(m, "event"), get(m, "events")) {
            (Some(e), None) => event(&e, &mut errs).into_iter().collect(),
            (None, Some(Node { value: Value::Seq(items), .. })) => {
                items.iter().filter_map(|e| event(e, &mut errs)).collect()
            }
            _ => {
                errs.push(t.pos.error("test needs `event` or a list of `events`"));
                continue;
            }
        };
        out.push(TestCase { name: tname, rule, expect_alert, events, pos: t.pos.clone() });
    }
    if errs.is_empty() { Ok(out) } else { Err(RuleErrors { errors: errs }) }
}

/// Test files beside the given rule paths: `*.test.yaml` in directories, and
/// `<stem>.test.yaml` next to files.
pub fn test_files(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut v: Vec<PathBuf> =
                std::fs::read_dir(p).map(|rd| rd.flatten().map(|e| e.path()).collect()).unwrap_or_default();
            v.retain(|f| f.to_string_lossy().ends_with(".test.yaml"));
            v.sort();
            out.extend(v);
        } else if let (Some(dir), Some(stem)) = (p.parent(), p.file_stem()) {
            let t = dir.join(format!("{}.test.yaml", stem.to_string_lossy()));
            if t.exists() && !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

/// Runs `cases` against `set`. With `require_coverage`, every enabled rule needs at
/// least one `alert` and one `no_alert` case.
pub fn run(set: &RuleSet, cases: &[TestCase], require_coverage: bool) -> Report {
    let mut report = Report::default();
    let index: HashMap<&str, usize> =
        set.rules().iter().enumerate().map(|(i, r)| (r.id.as_str(), i)).collect();
    for c in cases {
        let Some(&ri) = index.get(c.rule.as_str()) else {
            report.failed.push(format!("{}: {}: unknown rule '{}'", c.pos, c.name, c.rule));
            continue;
        };
        let mut fired: Vec<&str> = Vec::new();
        let mut alerted = false;
        for e in &c.events {
            let hits = set.match_event(&e.facts());
            alerted |= hits.contains(&ri);
            fired.extend(hits.iter().map(|&h| set.rules()[h].id.as_str()));
        }
        if alerted == c.expect_alert {
            report.passed.push(c.name.clone());
        } else {
            let want = if c.expect_alert { "an alert" } else { "no alert" };
            report.failed.push(format!(
                "{}: {}: expected {want} from {}, rules that fired: [{}]",
                c.pos,
                c.name,
                c.rule,
                fired.join(", ")
            ));
        }
    }
    if require_coverage {
        for r in set.rules().iter().filter(|r| r.enabled) {
            for (want, label) in [(true, "alert"), (false, "no_alert")] {
                if !cases.iter().any(|c| c.rule == r.id && c.expect_alert == want) {
                    report.failed.push(format!("{}: rule {} has no `{label}` test case", r.pos, r.id));
                }
            }
        }
    }
    report
}

/// Reads the test files for `paths`.
pub fn load(paths: &[PathBuf]) -> Result<Vec<TestCase>, RuleErrors> {
    let mut all = Vec::new();
    let mut errors = Vec::new();
    for f in test_files(paths) {
        let name = f.display().to_string();
        match std::fs::read_to_string(&f) {
            Ok(text) => match parse_tests(&name, &text) {
                Ok(c) => all.extend(c),
                Err(e) => errors.extend(e.errors),
            },
            Err(e) => errors.push(Pos { file: name, line: 0, col: 0 }.error(format!("cannot read: {e}"))),
        }
    }
    if errors.is_empty() { Ok(all) } else { Err(RuleErrors { errors }) }
}
