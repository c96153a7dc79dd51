//! Rule files → raw definitions, applied in load order: later files may redefine lists
//! and macros, and `override`/`append` rules by id. Checks structure and types,
//! collecting every error.

use std::collections::HashMap;

use super::{
    error::{Pos, RuleError},
    model::{EventKind, OUTPUT_FIELDS, Severity, placeholders},
    source::Located,
    yaml::{Node, Value},
};

/// Schema version this build understands.
pub const SCHEMA_VERSION: i64 = 1;

const TOP_FIELDS: &[&str] = &["tokenwarden_rules", "lists", "macros", "rules"];
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
    "condition",
    "exceptions",
    "output",
    "override",
    "append",
];
/// Fields `append` can extend.
const APPEND_FIELDS: &[&str] =
    &["techniques", "tags", "files", "exclude_files", "allowed_executables", "condition", "exceptions"];
const EXCEPTION_FIELDS: &[&str] =
    &["name", "executables", "files", "users", "parent_executables", "ancestors", "comment"];

/// A string with where it was written.
pub type Spanned = (String, Pos);

/// A user in an exception: numeric uid or name (resolved on the host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Uid(u32),
    Name(String),
}

/// A structured allow entry: it matches when every field it sets matches.
#[derive(Debug, Clone)]
pub struct RawException {
    pub name: Spanned,
    pub executables: Vec<Spanned>,
    pub files: Vec<Spanned>,
    pub users: Vec<(UserRef, Pos)>,
    pub parent_executables: Vec<Spanned>,
    pub ancestors: Vec<Spanned>,
}

/// A rule as written (after overrides and appends), before lists are expanded.
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
    /// All must hold (an `append` adds one).
    pub conditions: Vec<Located>,
    pub exceptions: Vec<RawException>,
    pub output: String,
}

/// Everything read from a set of files.
#[derive(Debug, Default)]
pub struct Parsed {
    pub lists: HashMap<String, (Vec<Spanned>, Pos)>,
    pub macros: HashMap<String, Located>,
    pub rules: Vec<RawRule>,
}

/// The fields of one rule entry, all optional (full rules check what is required).
#[derive(Default)]
struct Parts {
    name: Option<String>,
    description: Option<String>,
    severity: Option<Severity>,
    enabled: Option<bool>,
    techniques: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    event: Option<EventKind>,
    files: Option<Vec<Spanned>>,
    exclude_files: Option<Vec<Spanned>>,
    allowed: Option<Vec<Spanned>>,
    condition: Option<Located>,
    exceptions: Option<Vec<RawException>>,
    output: Option<String>,
}

pub(super) fn expected(node: &Node, what: &str) -> RuleError {
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

/// A list or macro reference: a bare identifier (no `/`, `*`, `.`).
pub fn is_list_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && c.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reads one parsed document (`source` is its text, for positions) into `out`.
pub fn read_file(root: &Node, source: &str, out: &mut Parsed, errs: &mut Vec<RuleError>) {
    let Value::Map(top) = &root.value else {
        errs.push(expected(root, "a mapping with `tokenwarden_rules`, `lists`, `macros` and `rules`"));
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
    if let Some(macros) = f.get("macros") {
        read_macros(macros, source, out, errs);
    }
    if let Some(rules) = f.get("rules") {
        match &rules.value {
            Value::Seq(items) => {
                for item in items {
                    read_rule_entry(item, source, out, errs);
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
        let Some(name) = k.as_str().filter(|n| is_list_name(n)) else {
            errs.push(k.pos.error("invalid list name (letters, digits, _ and -)"));
            continue;
        };
        // `name: [..]` defines (a later file replaces); `name: {append: [..]}` extends.
        if let Value::Map(m) = &v.value {
            let f = fields(m, &["append"], "list", errs);
            let Some(items) = f.get("append").and_then(|n| string_list(n, errs)) else { continue };
            match out.lists.get_mut(name) {
                Some((list, _)) => list.extend(items),
                None => errs.push(k.pos.error(format!("cannot append to unknown list '{name}'"))),
            }
            continue;
        }
        let Some(items) = string_list(v, errs) else { continue };
        if let Some((_, first)) = out.lists.get(name)
            && first.file == k.pos.file
        {
            errs.push(k.pos.error(format!("duplicate list '{name}' (first defined at {first})")));
            continue;
        }
        out.lists.insert(name.to_string(), (items, k.pos.clone()));
    }
}

fn read_macros(node: &Node, source: &str, out: &mut Parsed, errs: &mut Vec<RuleError>) {
    let Value::Map(entries) = &node.value else {
        errs.push(expected(node, "a mapping of macro names to conditions"));
        return;
    };
    for (k, v) in entries {
        let Some(name) = k.as_str().filter(|n| is_list_name(n)) else {
            errs.push(k.pos.error("invalid macro name (letters, digits, _ and -)"));
            continue;
        };
        let Some(text) = string(v, errs) else { continue };
        if let Some(first) = out.macros.get(name)
            && first.pos.file == k.pos.file
        {
            errs.push(k.pos.error(format!("duplicate macro '{name}' (first defined at {})", first.pos)));
            continue;
        }
        out.macros.insert(name.to_string(), Located::new(v, text, source));
    }
}

fn read_rule_entry(node: &Node, source: &str, out: &mut Parsed, errs: &mut Vec<RuleError>) {
    let Value::Map(map) = &node.value else {
        errs.push(expected(node, "a rule (mapping)"));
        return;
    };
    let f = fields(map, RULE_FIELDS, "rule", errs);
    let id = f.get("id").and_then(|n| string(n, errs).map(|s| (s, n.pos.clone())));
    let Some((id, id_pos)) = id else {
        errs.push(node.pos.error("rule is missing required field 'id'"));
        return;
    };
    if !is_rule_id(&id) {
        errs.push(id_pos.error(format!("invalid rule id '{id}' (lowercase letters, digits, '.' and '-')")));
    }
    let patch =
        f.get("override").map(|n| ("override", *n)).or_else(|| f.get("append").map(|n| ("append", *n)));
    if let Some((how, body)) = patch {
        if f.len() > 2 || (f.contains_key("override") && f.contains_key("append")) {
            errs.push(body.pos.error(format!("a rule with `{how}` may only have `id` and `{how}`")));
            return;
        }
        let Some(existing) = out.rules.iter_mut().find(|r| r.id.0 == id) else {
            errs.push(id_pos.error(format!("`{how}` of unknown rule '{id}' (define it in an earlier file)")));
            return;
        };
        let Value::Map(m) = &body.value else {
            errs.push(expected(body, "a mapping of rule fields"));
            return;
        };
        if how == "append" {
            let pf = fields(m, APPEND_FIELDS, "append", errs);
            let p = read_parts(&pf, node, source, errs);
            append(existing, p);
        } else {
            let allowed: Vec<&str> =
                RULE_FIELDS.iter().copied().filter(|k| !["id", "override", "append"].contains(k)).collect();
            let pf = fields(m, &allowed, "override", errs);
            let p = read_parts(&pf, node, source, errs);
            apply_override(existing, p);
        }
        return;
    }
    let before = errs.len();
    let p = read_parts(&f, node, source, errs);
    let mut missing = |key: &str, present: bool| {
        if !present {
            errs.push(node.pos.error(format!("rule is missing required field '{key}'")));
        }
    };
    missing("name", p.name.is_some() || f.contains_key("name"));
    missing("severity", p.severity.is_some() || f.contains_key("severity"));
    missing("techniques", p.techniques.is_some() || f.contains_key("techniques"));
    missing("event", p.event.is_some() || f.contains_key("event"));
    missing("output", p.output.is_some() || f.contains_key("output"));
    if !f.contains_key("files") && !f.contains_key("condition") {
        errs.push(node.pos.error("rule needs `files` or a `condition`"));
    }
    if errs.len() > before {
        return;
    }
    if let Some(first) = out.rules.iter().find(|r| r.id.0 == id) {
        errs.push(id_pos.error(format!(
            "duplicate rule id '{id}' (first defined at {}; use `override` or `append` to change it)",
            first.id.1
        )));
        return;
    }
    let (Some(name), Some(severity), Some(techniques), Some(event), Some(output)) =
        (p.name, p.severity, p.techniques, p.event, p.output)
    else {
        return;
    };
    out.rules.push(RawRule {
        pos: node.pos.clone(),
        id: (id, id_pos),
        name,
        description: p.description.unwrap_or_default(),
        severity,
        enabled: p.enabled.unwrap_or(true),
        techniques,
        tags: p.tags.unwrap_or_default(),
        event,
        files: p.files.unwrap_or_default(),
        exclude_files: p.exclude_files.unwrap_or_default(),
        allowed_executables: p.allowed.unwrap_or_default(),
        conditions: p.condition.into_iter().collect(),
        exceptions: p.exceptions.unwrap_or_default(),
        output,
    });
}

fn append(r: &mut RawRule, p: Parts) {
    r.techniques.extend(p.techniques.unwrap_or_default());
    r.tags.extend(p.tags.unwrap_or_default());
    r.files.extend(p.files.unwrap_or_default());
    r.exclude_files.extend(p.exclude_files.unwrap_or_default());
    r.allowed_executables.extend(p.allowed.unwrap_or_default());
    r.conditions.extend(p.condition);
    r.exceptions.extend(p.exceptions.unwrap_or_default());
}

fn apply_override(r: &mut RawRule, p: Parts) {
    macro_rules! set {
        ($($field:ident <- $part:ident),*) => { $( if let Some(v) = p.$part { r.$field = v; } )* };
    }
    set!(name <- name, description <- description, severity <- severity, enabled <- enabled,
         techniques <- techniques, tags <- tags, event <- event, files <- files,
         exclude_files <- exclude_files, allowed_executables <- allowed, exceptions <- exceptions,
         output <- output);
    if let Some(c) = p.condition {
        r.conditions = vec![c];
    }
}

fn read_parts(f: &HashMap<&str, &Node>, rule: &Node, source: &str, errs: &mut Vec<RuleError>) -> Parts {
    let mut p = Parts {
        name: f.get("name").and_then(|n| string(n, errs)),
        description: f.get("description").and_then(|n| string(n, errs)).map(|s| s.trim().to_string()),
        ..Parts::default()
    };
    p.severity = f.get("severity").and_then(|n| {
        let s = string(n, errs)?;
        let sev = Severity::parse(&s);
        if sev.is_none() {
            errs.push(
                n.pos.error(format!("unknown severity '{s}' (expected low, medium, high or critical)")),
            );
        }
        sev
    });
    p.enabled = f.get("enabled").and_then(|n| match n.value {
        Value::Bool(b) => Some(b),
        _ => {
            errs.push(expected(n, "true or false"));
            None
        }
    });
    p.techniques = f.get("techniques").and_then(|n| {
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
        Some(list.into_iter().map(|(t, _)| t).collect())
    });
    p.tags =
        f.get("tags").and_then(|n| string_list(n, errs)).map(|l| l.into_iter().map(|(t, _)| t).collect());
    p.event = f.get("event").and_then(|n| {
        let s = string(n, errs)?;
        let e = EventKind::parse(&s);
        if e.is_none() {
            errs.push(n.pos.error(format!("unknown event kind '{s}' (expected file_open)")));
        }
        e
    });
    p.files = f.get("files").and_then(|n| {
        let l = string_list(n, errs)?;
        if l.is_empty() {
            errs.push(n.pos.error("`files` is empty: the rule would never match"));
        }
        Some(l)
    });
    p.exclude_files = f.get("exclude_files").and_then(|n| string_list(n, errs));
    p.allowed = f.get("allowed_executables").and_then(|n| string_list(n, errs));
    p.condition = f.get("condition").and_then(|n| string(n, errs).map(|t| Located::new(n, t, source)));
    p.exceptions = f.get("exceptions").and_then(|n| read_exceptions(n, errs));
    p.output = f.get("output").and_then(|n| {
        let s = string(n, errs)?;
        for ph in placeholders(&s) {
            if !OUTPUT_FIELDS.contains(&ph) {
                errs.push(n.pos.error(format!(
                    "unknown field '{{{ph}}}' in output (known: {})",
                    OUTPUT_FIELDS.join(", ")
                )));
            }
        }
        Some(s)
    });
    let _ = rule;
    p
}

fn read_exceptions(node: &Node, errs: &mut Vec<RuleError>) -> Option<Vec<RawException>> {
    let Value::Seq(items) = &node.value else {
        errs.push(expected(node, "a list of exceptions"));
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        let Value::Map(m) = &item.value else {
            errs.push(expected(item, "an exception (mapping)"));
            continue;
        };
        let f = fields(m, EXCEPTION_FIELDS, "exception", errs);
        let Some(name) = f.get("name").and_then(|n| string(n, errs).map(|s| (s, n.pos.clone()))) else {
            errs.push(item.pos.error("exception is missing required field 'name'"));
            continue;
        };
        if out.iter().any(|e: &RawException| e.name.0 == name.0) {
            errs.push(name.1.error(format!("duplicate exception name '{}'", name.0)));
        }
        let list = |k: &str, errs: &mut Vec<RuleError>| {
            f.get(k).and_then(|n| string_list(n, errs)).unwrap_or_default()
        };
        let users = f.get("users").map(|n| read_users(n, errs)).unwrap_or_default();
        let e = RawException {
            executables: list("executables", errs),
            files: list("files", errs),
            parent_executables: list("parent_executables", errs),
            ancestors: list("ancestors", errs),
            users,
            name,
        };
        if e.executables.is_empty()
            && e.files.is_empty()
            && e.users.is_empty()
            && e.parent_executables.is_empty()
            && e.ancestors.is_empty()
        {
            errs.push(item.pos.error("exception matches everything: set executables, files, users, parent_executables or ancestors"));
        }
        out.push(e);
    }
    Some(out)
}

fn read_users(node: &Node, errs: &mut Vec<RuleError>) -> Vec<(UserRef, Pos)> {
    let Value::Seq(items) = &node.value else {
        errs.push(expected(node, "a list of user names or uids"));
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|i| match &i.value {
            Value::Int(n) if u32::try_from(*n).is_ok() => Some((UserRef::Uid(*n as u32), i.pos.clone())),
            Value::Str(s) => Some((UserRef::Name(s.clone()), i.pos.clone())),
            _ => {
                errs.push(expected(i, "a user name or uid"));
                None
            }
        })
        .collect()
}
