//! Rule files → raw definitions. Checks structure and types, collecting every error.

use std::collections::HashMap;

use super::{
    error::{Pos, RuleError},
    model::{EventKind, OUTPUT_FIELDS, Severity, placeholders},
    yaml::{Node, Value},
};

/// Schema version this build understands.
pub const SCHEMA_VERSION: i64 = 1;

const TOP_FIELDS: &[&str] = &["tokenwarden_rules", "lists", "rules"];
const RULE_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "severity",
    "enabled",
    "techniques",
    "tags",
    "event",
    "files",
    "exclude_files",
    "allowed_executables",
    "output",
];

/// A string with where it was written.
pub type Spanned = (String, Pos);

/// A rule as written, before list references are expanded.
#[derive(Debug, Clone)]
pub struct RawRule {
    pub pos: Pos,
    pub id: Spanned,
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub enabled: bool,
    pub techniques: Vec<String>,
    pub tags: Vec<String>,
    pub event: EventKind,
    pub files: Vec<Spanned>,
    pub exclude_files: Vec<Spanned>,
    pub allowed_executables: Vec<Spanned>,
    pub output: String,
}

/// Everything read from a set of files.
#[derive(Debug, Default)]
pub struct Parsed {
    /// name → (items, where defined).
    pub lists: HashMap<String, (Vec<Spanned>, Pos)>,
    pub rules: Vec<RawRule>,
}

fn expected(node: &Node, what: &str) -> RuleError {
    node.pos.error(format!("expected {what}, got {}", node.kind()))
}

/// Splits a mapping into known fields, reporting unknown ones.
fn fields<'a>(
    map: &'a [(Node, Node)],
    allowed: &[&str],
    context: &str,
    errs: &mut Vec<RuleError>,
) -> HashMap<&'a str, &'a Node> {
    let mut out = HashMap::new();
    for (k, v) in map {
        match k.as_str() {
            Some(key) if allowed.contains(&key) => {
                out.insert(key, v);
            }
            Some(key) => errs.push(k.pos.error(format!(
                "unknown field '{key}' in {context} (expected one of: {})",
                allowed.join(", ")
            ))),
            None => errs.push(expected(k, "a field name")),
        }
    }
    out
}

fn string(node: &Node, errs: &mut Vec<RuleError>) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        _ => {
            errs.push(expected(node, "a string"));
            None
        }
    }
}

fn string_list(node: &Node, errs: &mut Vec<RuleError>) -> Option<Vec<Spanned>> {
    let Value::Seq(items) = &node.value else {
        errs.push(expected(node, "a list of strings"));
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match string(item, errs) {
            Some(s) => out.push((s, item.pos.clone())),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn is_technique(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    match b.len() {
        5 => b[0] == b'T' && digits(&b[1..]),
        9 => b[0] == b'T' && digits(&b[1..5]) && b[5] == b'.' && digits(&b[6..]),
        _ => false,
    }
}

fn is_rule_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
}

/// Reads one parsed document into `out`.
pub fn read_file(root: &Node, out: &mut Parsed, errs: &mut Vec<RuleError>) {
    let Value::Map(top) = &root.value else {
        errs.push(expected(root, "a mapping with `tokenwarden_rules`, `lists` and `rules`"));
        return;
    };
    let f = fields(top, TOP_FIELDS, "rule file", errs);
    match f.get("tokenwarden_rules") {
        None => errs
            .push(root.pos.error(format!("missing `tokenwarden_rules: {SCHEMA_VERSION}` (schema version)"))),
        Some(v) if v.value == Value::Int(SCHEMA_VERSION) => {}
        Some(v) => errs.push(v.pos.error(format!(
            "unsupported schema version {}: this tokenwarden reads `tokenwarden_rules: {SCHEMA_VERSION}`",
            match &v.value {
                Value::Int(i) => i.to_string(),
                _ => v.kind().to_string(),
            }
        ))),
    }
    if let Some(lists) = f.get("lists") {
        read_lists(lists, out, errs);
    }
    if let Some(rules) = f.get("rules") {
        match &rules.value {
            Value::Seq(items) => {
                for item in items {
                    if let Some(r) = read_rule(item, errs) {
                        out.rules.push(r);
                    }
                }
            }
            Value::Null => {}
            _ => errs.push(expected(rules, "a list of rules")),
        }
    }
}

fn read_lists(node: &Node, out: &mut Parsed, errs: &mut Vec<RuleError>) {
    let Value::Map(entries) = &node.value else {
        errs.push(expected(node, "a mapping of list names to lists"));
        return;
    };
    for (k, v) in entries {
        let Some(name) = k.as_str() else {
            errs.push(expected(k, "a list name"));
            continue;
        };
        if !is_list_name(name) {
            errs.push(k.pos.error(format!("invalid list name '{name}' (letters, digits, _ and -)")));
            continue;
        }
        let Some(items) = string_list(v, errs) else { continue };
        if let Some((_, first)) = out.lists.get(name) {
            errs.push(k.pos.error(format!("duplicate list '{name}' (first defined at {first})")));
            continue;
        }
        out.lists.insert(name.to_string(), (items, k.pos.clone()));
    }
}

/// A list reference: a bare identifier (no `/`, `*`, `.`).
pub fn is_list_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn read_rule(node: &Node, errs: &mut Vec<RuleError>) -> Option<RawRule> {
    let Value::Map(map) = &node.value else {
        errs.push(expected(node, "a rule (mapping)"));
        return None;
    };
    let before = errs.len();
    let f = fields(map, RULE_FIELDS, "rule", errs);
    let req = |key: &str, errs: &mut Vec<RuleError>| -> Option<&Node> {
        let v = f.get(key).copied();
        if v.is_none() {
            errs.push(node.pos.error(format!("rule is missing required field '{key}'")));
        }
        v
    };
    let id_node = req("id", errs);
    let id = id_node.and_then(|n| string(n, errs).map(|s| (s, n.pos.clone())));
    if let Some((id, pos)) = &id
        && !is_rule_id(id)
    {
        errs.push(pos.error(format!("invalid rule id '{id}' (lowercase letters, digits, '.' and '-')")));
    }
    let name = req("name", errs).and_then(|n| string(n, errs));
    let description =
        f.get("description").and_then(|n| string(n, errs)).map(|s| s.trim().to_string()).unwrap_or_default();
    let severity = req("severity", errs).and_then(|n| {
        let s = string(n, errs)?;
        let sev = Severity::parse(&s);
        if sev.is_none() {
            errs.push(
                n.pos.error(format!("unknown severity '{s}' (expected low, medium, high or critical)")),
            );
        }
        sev
    });
    let enabled = match f.get("enabled") {
        None => true,
        Some(n) => match n.value {
            Value::Bool(b) => b,
            _ => {
                errs.push(expected(n, "true or false"));
                true
            }
        },
    };
    let techniques = req("techniques", errs).and_then(|n| {
        let list = string_list(n, errs)?;
        if list.is_empty() {
            errs.push(n.pos.error("a rule needs at least one ATT&CK technique"));
        }
        for (t, pos) in &list {
            if !is_technique(t) {
                errs.push(
                    pos.error(format!("invalid ATT&CK technique id '{t}' (expected T1234 or T1234.001)")),
                );
            }
        }
        Some(list.into_iter().map(|(t, _)| t).collect::<Vec<_>>())
    });
    let tags = f
        .get("tags")
        .and_then(|n| string_list(n, errs))
        .map(|l| l.into_iter().map(|(t, _)| t).collect())
        .unwrap_or_default();
    let event = req("event", errs).and_then(|n| {
        let s = string(n, errs)?;
        let e = EventKind::parse(&s);
        if e.is_none() {
            errs.push(n.pos.error(format!("unknown event kind '{s}' (expected file_open)")));
        }
        e
    });
    let files = req("files", errs).and_then(|n| {
        let l = string_list(n, errs)?;
        if l.is_empty() {
            errs.push(n.pos.error("`files` is empty: the rule would never match"));
        }
        Some(l)
    });
    let exclude_files = f.get("exclude_files").and_then(|n| string_list(n, errs)).unwrap_or_default();
    let allowed = f.get("allowed_executables").and_then(|n| string_list(n, errs)).unwrap_or_default();
    let output = req("output", errs).and_then(|n| {
        let s = string(n, errs)?;
        for p in placeholders(&s) {
            if !OUTPUT_FIELDS.contains(&p) {
                errs.push(n.pos.error(format!(
                    "unknown field '{{{p}}}' in output (known: {})",
                    OUTPUT_FIELDS.join(", ")
                )));
            }
        }
        Some(s)
    });
    if errs.len() > before {
        return None;
    }
    Some(RawRule {
        pos: node.pos.clone(),
        id: id?,
        name: name?,
        description,
        severity: severity?,
        enabled,
        techniques: techniques?,
        tags,
        event: event?,
        files: files?,
        exclude_files,
        allowed_executables: allowed,
        output: output?,
    })
}
