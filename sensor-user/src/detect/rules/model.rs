//! What a compiled rule is.

use super::error::Pos;

/// Alert severity. ECS wants a number: the usual 21/47/73/99 scale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "low" => Some(Self::Low),
            "medium" => Some(Self::Medium),
            "high" => Some(Self::High),
            "critical" => Some(Self::Critical),
            _ => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// One level more severe (critical stays critical).
    pub fn raised(self) -> Self {
        match self {
            Self::Low => Self::Medium,
            Self::Medium => Self::High,
            Self::High | Self::Critical => Self::Critical,
        }
    }

    pub fn ecs_score(&self) -> u8 {
        match self {
            Self::Low => 21,
            Self::Medium => 47,
            Self::High => 73,
            Self::Critical => 99,
        }
    }
}

/// Kinds of event a rule can watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    FileOpen,
}

impl EventKind {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "file_open" => Some(Self::FileOpen),
            _ => None,
        }
    }
}

/// A rule after validation, with list references expanded.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub name: String,
    pub description: String,
    pub severity: Severity,
    pub enabled: bool,
    /// ATT&CK ids (`T1552` or `T1552.001`).
    pub techniques: Vec<String>,
    pub tags: Vec<String>,
    pub event: EventKind,
    /// Globs over the opened file's absolute path.
    pub files: Vec<String>,
    /// Globs of files that never match even if `files` does (e.g. `**/*.pub`).
    pub exclude_files: Vec<String>,
    /// Globs over the resolved executable of programs allowed to open the files.
    pub allowed_executables: Vec<String>,
    /// Conditions as written (all must hold), joined with `and`; empty when none.
    pub condition: String,
    /// Names of the rule's exceptions.
    pub exceptions: Vec<String>,
    /// Alert message template with `{field.name}` placeholders.
    pub output: String,
    /// Where the rule is defined.
    pub pos: Pos,
}

/// Placeholders an output template may use (ECS names of the alert document).
pub const OUTPUT_FIELDS: &[&str] = &[
    "process.executable",
    "process.pid",
    "process.name",
    "process.args",
    "process.command_line",
    "process.entity_id",
    "process.user.id",
    "process.parent.executable",
    "process.parent.pid",
    "process.parent.name",
    "file.path",
    "file.name",
    "file.inode",
    "file.uid",
    "rule.id",
    "rule.name",
    "user.id",
    "host.name",
    "tokenwarden.process.loginuid",
    "tokenwarden.process.sessionid",
];

impl Rule {
    /// Fills `{field}` placeholders through `lookup`; unknown values render as `-`.
    pub fn render_output(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        let mut out = String::with_capacity(self.output.len() + 32);
        let mut rest = self.output.as_str();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let after = &rest[start + 1..];
            match after.find('}') {
                Some(end) => {
                    out.push_str(&lookup(&after[..end]).unwrap_or_else(|| "-".into()));
                    rest = &after[end + 1..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// The placeholders in a template (text between `{` and `}`).
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    out
}
