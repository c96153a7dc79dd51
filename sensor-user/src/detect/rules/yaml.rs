//! YAML → a small tree where every node knows its `file:line:col` (saphyr's marked
//! nodes), so validation can point at the offending text.

use saphyr::{LoadableYamlNode as _, MarkedYaml, Scalar, YamlData};

use super::error::{Pos, RuleError};

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Seq(Vec<Node>),
    /// Keys in document order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// What kind of node this is, for "expected X, got Y" messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Int(_) => "integer",
            Value::Float(_) => "number",
            Value::Str(_) => "string",
            Value::Seq(_) => "sequence",
            Value::Map(_) => "mapping",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Parses one YAML document. An empty file is an empty mapping.
pub fn parse(file: &str, text: &str) -> Result<Node, RuleError> {
    let docs = MarkedYaml::load_from_str(text).map_err(|e| {
        let m = e.marker();
        RuleError {
            file: file.into(),
            line: m.line(),
            col: m.col() + 1,
            message: format!("YAML syntax error: {}", e.info()),
        }
    })?;
    let mut docs = docs.into_iter();
    let Some(doc) = docs.next() else {
        return Ok(Node { pos: Pos { file: file.into(), line: 1, col: 1 }, value: Value::Map(Vec::new()) });
    };
    if let Some(extra) = docs.next() {
        return Err(RuleError {
            file: file.into(),
            line: extra.span.start.line(),
            col: extra.span.start.col() + 1,
            message: "only one YAML document per rule file".into(),
        });
    }
    Ok(convert(file, &doc))
}

fn convert(file: &str, n: &MarkedYaml<'_>) -> Node {
    let pos = Pos { file: file.into(), line: n.span.start.line(), col: n.span.start.col() + 1 };
    let value = match &n.data {
        YamlData::Value(s) => scalar(s),
        YamlData::Representation(s, _, _) => Value::Str(s.to_string()),
        YamlData::Sequence(items) => Value::Seq(items.iter().map(|i| convert(file, i)).collect()),
        YamlData::Mapping(m) => {
            Value::Map(m.iter().map(|(k, v)| (convert(file, k), convert(file, v))).collect())
        }
        YamlData::Tagged(_, inner) => return convert(file, inner),
        _ => Value::Null,
    };
    Node { pos, value }
}

fn scalar(s: &Scalar<'_>) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Int(*i),
        Scalar::FloatingPoint(f) => Value::Float(f.into_inner()),
        Scalar::String(s) => Value::Str(s.to_string()),
    }
}
