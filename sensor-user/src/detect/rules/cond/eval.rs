//! Syntax tree → compiled condition: macros inlined, lists expanded, fields resolved and
//! type-checked, globs and regexes compiled once.

use std::collections::{HashMap, HashSet};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::Regex;

use super::{
    CondError,
    parser::{Ast, Op, Operand, SessionPred},
};
use crate::detect::rules::facts::{Facts, Field, Kind, Val};

/// A condition ready to evaluate.
#[derive(Debug, Clone)]
pub enum Compiled {
    And(Vec<Compiled>),
    Or(Vec<Compiled>),
    Not(Box<Compiled>),
    Session(SessionPred),
    Exists(Field),
    StrIn(Field, HashSet<String>, bool),
    Glob(Field, GlobSet),
    Starts(Field, Vec<String>),
    Ends(Field, Vec<String>),
    Contains(Field, Vec<String>),
    Regex(Field, Regex),
    Num(Field, Op, Vec<u64>),
    Bool(Field, bool),
}

/// Where compile errors come from: the condition itself or a macro it uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Here,
    Macro(String),
}

/// Names a condition can refer to.
pub struct Env<'a> {
    pub lists: &'a HashMap<String, Vec<String>>,
    /// Macro name → parsed body (None when it did not parse).
    pub macros: &'a HashMap<String, Option<Ast>>,
}

type Errs = Vec<(Origin, CondError)>;

fn err(errs: &mut Errs, origin: &Origin, offset: usize, message: String) {
    errs.push((origin.clone(), CondError { offset, message }));
}

/// Compiles `ast`. Errors inside macros are reported with the macro's name so the
/// caller can place them; `stack` holds the macros being expanded (cycle detection).
pub fn compile(
    ast: &Ast,
    env: &Env<'_>,
    origin: &Origin,
    stack: &mut Vec<String>,
    errs: &mut Errs,
) -> Option<Compiled> {
    match ast {
        Ast::And(a, b) | Ast::Or(a, b) => {
            let l = compile(a, env, origin, stack, errs);
            let r = compile(b, env, origin, stack, errs);
            let (l, r) = (l?, r?);
            Some(if matches!(ast, Ast::And(..)) {
                Compiled::And(vec![l, r])
            } else {
                Compiled::Or(vec![l, r])
            })
        }
        Ast::Not(a) => compile(a, env, origin, stack, errs).map(|c| Compiled::Not(Box::new(c))),
        Ast::Session(s) => Some(Compiled::Session(*s)),
        Ast::Macro(name, at) => {
            if stack.contains(name) {
                err(errs, origin, *at, format!("macro cycle: {} -> {name}", stack.join(" -> ")));
                return None;
            }
            match env.macros.get(name) {
                None => {
                    let hint = if name.contains('.') { " (or a field without an operator)" } else { "" };
                    err(errs, origin, *at, format!("unknown macro '{name}'{hint}"));
                    None
                }
                // Its own errors were reported where it is defined.
                Some(None) => None,
                Some(Some(body)) => {
                    stack.push(name.clone());
                    let c = compile(body, env, &Origin::Macro(name.clone()), stack, errs);
                    stack.pop();
                    c
                }
            }
        }
        Ast::Exists { field, at } => resolve(field, *at, origin, errs).map(|(f, _)| Compiled::Exists(f)),
        Ast::Pred { field, at, op, operand, operand_at } => {
            let (f, kind) = resolve(field, *at, origin, errs)?;
            predicate(f, kind, *op, operand, *operand_at, env, origin, errs)
        }
    }
}

fn resolve(name: &str, at: usize, origin: &Origin, errs: &mut Errs) -> Option<(Field, Kind)> {
    let r = Field::parse(name);
    if r.is_none() {
        let known: Vec<&str> = crate::detect::rules::facts::FIELDS.iter().map(|f| f.0).collect();
        err(errs, origin, at, format!("unknown field '{name}' (known: {})", known.join(", ")));
    }
    r
}

/// Flattens an operand into literal values, expanding list names.
fn values(
    operand: &Operand,
    at: usize,
    env: &Env<'_>,
    origin: &Origin,
    errs: &mut Errs,
) -> Option<Vec<(Operand, usize)>> {
    let items: Vec<(Operand, usize)> = match operand {
        Operand::List(items) => items.clone(),
        other => vec![(other.clone(), at)],
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (item, at) in items {
        match item {
            Operand::ListRef(name) => match env.lists.get(&name) {
                Some(list) => out.extend(list.iter().map(|s| (Operand::Str(s.clone()), at))),
                None => {
                    err(errs, origin, at, format!("unknown list '{name}'"));
                    ok = false;
                }
            },
            other => out.push((other, at)),
        }
    }
    ok.then_some(out)
}

#[allow(clippy::too_many_arguments)]
fn predicate(
    f: Field,
    kind: Kind,
    op: Op,
    operand: &Operand,
    at: usize,
    env: &Env<'_>,
    origin: &Origin,
    errs: &mut Errs,
) -> Option<Compiled> {
    let vals = values(operand, at, env, origin, errs)?;
    let mismatch = |errs: &mut Errs, v: &Operand, at: usize| {
        let got = match v {
            Operand::Str(_) => "a string",
            Operand::Num(_) => "a number",
            Operand::Bool(_) => "a boolean",
            _ => "a list",
        };
        let want = match kind {
            Kind::Str => "a string",
            Kind::Num => "a number",
            Kind::Bool => "true or false",
        };
        err(errs, origin, at, format!("type mismatch: {} is {want}, got {got}", f.name()));
    };
    match kind {
        Kind::Str => {
            let mut strs = Vec::new();
            for (v, at) in &vals {
                match v {
                    Operand::Str(s) => strs.push(s.clone()),
                    other => {
                        mismatch(errs, other, *at);
                        return None;
                    }
                }
            }
            match op {
                Op::Eq | Op::In => Some(Compiled::StrIn(f, strs.into_iter().collect(), true)),
                Op::Ne => Some(Compiled::StrIn(f, strs.into_iter().collect(), false)),
                Op::Glob => {
                    let mut b = GlobSetBuilder::new();
                    for (s, (_, at)) in strs.iter().zip(&vals) {
                        match GlobBuilder::new(s).literal_separator(true).build() {
                            Ok(g) => {
                                b.add(g);
                            }
                            Err(e) => {
                                err(errs, origin, *at, format!("invalid glob '{s}': {}", e.kind()));
                                return None;
                            }
                        }
                    }
                    b.build().ok().map(|set| Compiled::Glob(f, set))
                }
                Op::StartsWith => Some(Compiled::Starts(f, strs)),
                Op::EndsWith => Some(Compiled::Ends(f, strs)),
                Op::Contains => Some(Compiled::Contains(f, strs)),
                Op::Regex => {
                    let pattern = strs.iter().map(|s| format!("(?:{s})")).collect::<Vec<_>>().join("|");
                    match Regex::new(&pattern) {
                        Ok(re) => Some(Compiled::Regex(f, re)),
                        Err(e) => {
                            let first = e.to_string().lines().last().unwrap_or_default().trim().to_string();
                            err(errs, origin, at, format!("invalid regex: {first}"));
                            None
                        }
                    }
                }
                Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    err(
                        errs,
                        origin,
                        at,
                        format!("'{}' is a string: numeric comparison is not possible", f.name()),
                    );
                    None
                }
            }
        }
        Kind::Num => {
            let mut nums = Vec::new();
            for (v, at) in &vals {
                match v {
                    Operand::Num(n) => nums.push(*n),
                    other => {
                        mismatch(errs, other, *at);
                        return None;
                    }
                }
            }
            match op {
                Op::Eq | Op::Ne | Op::In | Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    Some(Compiled::Num(f, op, nums))
                }
                _ => {
                    err(
                        errs,
                        origin,
                        at,
                        format!("'{}' is a number: use =, !=, <, <=, >, >= or in", f.name()),
                    );
                    None
                }
            }
        }
        Kind::Bool => match (op, vals.as_slice()) {
            (Op::Eq, [(Operand::Bool(b), _)]) => Some(Compiled::Bool(f, *b)),
            (Op::Ne, [(Operand::Bool(b), _)]) => Some(Compiled::Bool(f, !*b)),
            (_, [(v, at)]) if !matches!(v, Operand::Bool(_)) => {
                mismatch(errs, v, *at);
                None
            }
            _ => {
                err(errs, origin, at, format!("'{}' is true or false: use = or !=", f.name()));
                None
            }
        },
    }
}

impl Compiled {
    pub fn eval(&self, facts: &Facts<'_>) -> bool {
        match self {
            Compiled::And(v) => v.iter().all(|c| c.eval(facts)),
            Compiled::Or(v) => v.iter().any(|c| c.eval(facts)),
            Compiled::Not(c) => !c.eval(facts),
            Compiled::Session(s) => match s {
                SessionPred::SameUser => facts.uid == facts.file_uid,
                SessionPred::OtherUser => facts.uid != facts.file_uid,
                SessionPred::SameSession => facts.login_user() == facts.file_uid,
                SessionPred::OtherSession => facts.login_user() != facts.file_uid,
            },
            Compiled::Exists(f) => facts.any(*f, |v| !matches!(v, Val::Str(""))),
            Compiled::StrIn(f, set, want) => {
                facts.any(*f, |v| matches!(v, Val::Str(s) if set.contains(s) == *want))
            }
            Compiled::Glob(f, set) => facts.any(*f, |v| matches!(v, Val::Str(s) if set.is_match(s))),
            Compiled::Starts(f, p) => {
                facts.any(*f, |v| matches!(v, Val::Str(s) if p.iter().any(|p| s.starts_with(p.as_str()))))
            }
            Compiled::Ends(f, p) => {
                facts.any(*f, |v| matches!(v, Val::Str(s) if p.iter().any(|p| s.ends_with(p.as_str()))))
            }
            Compiled::Contains(f, p) => {
                facts.any(*f, |v| matches!(v, Val::Str(s) if p.iter().any(|p| s.contains(p.as_str()))))
            }
            Compiled::Regex(f, re) => facts.any(*f, |v| matches!(v, Val::Str(s) if re.is_match(s))),
            Compiled::Num(f, op, nums) => facts.any(*f, |v| {
                let Val::Num(x) = v else { return false };
                match op {
                    Op::Eq | Op::In => nums.contains(&x),
                    Op::Ne => !nums.contains(&x),
                    Op::Lt => nums.first().is_some_and(|n| x < *n),
                    Op::Le => nums.first().is_some_and(|n| x <= *n),
                    Op::Gt => nums.first().is_some_and(|n| x > *n),
                    Op::Ge => nums.first().is_some_and(|n| x >= *n),
                    _ => false,
                }
            }),
            Compiled::Bool(f, b) => facts.any(*f, |v| v == Val::Bool(*b)),
        }
    }
}
