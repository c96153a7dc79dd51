//! Condition text → syntax tree (positions kept for error messages).

use super::{
    CondError,
    lexer::{Tok, lex},
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Glob,
    StartsWith,
    EndsWith,
    Contains,
    Regex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionPred {
    SameUser,
    OtherUser,
    SameSession,
    OtherSession,
}

/// A literal, or a reference to a named list (bare word inside `in (...)`).
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Str(String),
    Num(u64),
    Bool(bool),
    List(Vec<(Operand, usize)>),
    ListRef(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Ast {
    And(Box<Ast>, Box<Ast>),
    Or(Box<Ast>, Box<Ast>),
    Not(Box<Ast>),
    Session(SessionPred),
    /// A macro by name, at an offset.
    Macro(String, usize),
    Exists {
        field: String,
        at: usize,
    },
    Pred {
        field: String,
        at: usize,
        op: Op,
        operand: Operand,
        operand_at: usize,
    },
}

fn keyword_op(w: &str) -> Option<Op> {
    Some(match w {
        "in" => Op::In,
        "glob" => Op::Glob,
        "startswith" => Op::StartsWith,
        "endswith" => Op::EndsWith,
        "contains" => Op::Contains,
        "regex" | "matches" => Op::Regex,
        _ => return None,
    })
}

fn session(w: &str) -> Option<SessionPred> {
    Some(match w {
        "same_user" => SessionPred::SameUser,
        "other_user" => SessionPred::OtherUser,
        "same_session" => SessionPred::SameSession,
        "other_session" => SessionPred::OtherSession,
        _ => return None,
    })
}

const RESERVED: &[&str] = &["and", "or", "not", "exists", "true", "false"];

struct Parser {
    toks: Vec<(Tok, usize)>,
    i: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.0)
    }

    fn at(&self) -> usize {
        self.toks.get(self.i).map_or(self.end, |t| t.1)
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, CondError> {
        Err(CondError { offset: self.at(), message: msg.into() })
    }

    fn word_is(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn or(&mut self) -> Result<Ast, CondError> {
        let mut left = self.and()?;
        while self.word_is("or") {
            self.i += 1;
            left = Ast::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Ast, CondError> {
        let mut left = self.unary()?;
        while self.word_is("and") {
            self.i += 1;
            left = Ast::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Ast, CondError> {
        match self.peek().cloned() {
            None => self.err("expected a condition, found the end"),
            Some(Tok::LParen) => {
                self.i += 1;
                let e = self.or()?;
                if self.peek() != Some(&Tok::RParen) {
                    return self.err("expected ')'");
                }
                self.i += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) if w == "not" => {
                self.i += 1;
                Ok(Ast::Not(Box::new(self.unary()?)))
            }
            Some(Tok::Word(w)) => {
                let at = self.at();
                if RESERVED.contains(&w.as_str()) {
                    return self.err(format!("unexpected '{w}'"));
                }
                self.i += 1;
                if let Some(s) = session(&w) {
                    return Ok(Ast::Session(s));
                }
                self.after_word(w, at)
            }
            Some(_) => self.err("expected a field, macro, 'not' or '('"),
        }
    }

    /// A word followed by an operator is a predicate; alone, a macro.
    fn after_word(&mut self, w: String, at: usize) -> Result<Ast, CondError> {
        let op = match self.peek() {
            Some(Tok::Eq) => Op::Eq,
            Some(Tok::Ne) => Op::Ne,
            Some(Tok::Lt) => Op::Lt,
            Some(Tok::Le) => Op::Le,
            Some(Tok::Gt) => Op::Gt,
            Some(Tok::Ge) => Op::Ge,
            Some(Tok::Word(k)) if k == "exists" => {
                self.i += 1;
                return Ok(Ast::Exists { field: w, at });
            }
            Some(Tok::Word(k)) => match keyword_op(k) {
                Some(op) => op,
                None => return Ok(Ast::Macro(w, at)),
            },
            _ => return Ok(Ast::Macro(w, at)),
        };
        self.i += 1;
        let operand_at = self.at();
        let operand = self.operand(op == Op::In)?;
        Ok(Ast::Pred { field: w, at, op, operand, operand_at })
    }

    fn operand(&mut self, list_ok: bool) -> Result<Operand, CondError> {
        let v = match self.peek().cloned() {
            Some(Tok::Str(s)) => Operand::Str(s),
            Some(Tok::Num(n)) => Operand::Num(n),
            Some(Tok::Word(w)) if w == "true" => Operand::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Operand::Bool(false),
            Some(Tok::Word(w)) if list_ok => Operand::ListRef(w),
            Some(Tok::LParen) if list_ok => {
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    let at = self.at();
                    match self.peek().cloned() {
                        Some(Tok::RParen) if items.is_empty() => break,
                        Some(Tok::Str(s)) => items.push((Operand::Str(s), at)),
                        Some(Tok::Num(n)) => items.push((Operand::Num(n), at)),
                        Some(Tok::Word(w)) => items.push((Operand::ListRef(w), at)),
                        _ => return self.err("expected a string, number or list name"),
                    }
                    self.i += 1;
                    match self.peek() {
                        Some(Tok::Comma) => self.i += 1,
                        Some(Tok::RParen) => break,
                        _ => return self.err("expected ',' or ')'"),
                    }
                }
                Operand::List(items)
            }
            Some(Tok::Word(w)) => {
                return self.err(format!("expected a quoted string or number, got '{w}' (quote strings)"));
            }
            _ => return self.err("expected a value"),
        };
        self.i += 1;
        Ok(v)
    }
}

/// Parses a whole condition.
pub fn parse(text: &str) -> Result<Ast, CondError> {
    let toks = lex(text)?;
    let mut p = Parser { toks, i: 0, end: text.len() };
    let ast = p.or()?;
    if p.i < p.toks.len() {
        return p.err("unexpected text after the condition (missing 'and'/'or'?)");
    }
    Ok(ast)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_offsets() {
        let ast = parse("a or b and not file.path glob \"/x/*\"").expect("parses");
        let Ast::Or(l, r) = ast else { panic!("or at the top") };
        assert_eq!(*l, Ast::Macro("a".into(), 0));
        let Ast::And(_, r) = *r else { panic!("and binds tighter") };
        let Ast::Not(p) = *r else { panic!("not") };
        assert!(matches!(*p, Ast::Pred { at: 15, op: Op::Glob, operand_at: 30, .. }));
    }

    #[test]
    fn lists_sessions_and_errors() {
        assert!(matches!(
            parse("process.executable in (shells, \"/x\") and other_user").expect("ok"),
            Ast::And(_, _)
        ));
        assert_eq!(parse("a and").unwrap_err().offset, 5);
        assert_eq!(parse("file.path = unquoted").unwrap_err().offset, 12);
        assert_eq!(parse("(a").unwrap_err().message, "expected ')'");
        assert_eq!(parse("a b").unwrap_err().offset, 2);
        assert_eq!(parse("x = \"open").unwrap_err().message, "unterminated string");
    }
}
