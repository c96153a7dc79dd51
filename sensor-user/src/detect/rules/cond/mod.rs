//! Conditions: a small Falco-like language over event fields.
//!
//! ```text
//! expr      := or
//! or        := and ("or" and)*
//! and       := unary ("and" unary)*
//! unary     := "not" unary | "(" expr ")" | session | macro | predicate
//! session   := same_user | other_user | same_session | other_session
//! predicate := FIELD op value | FIELD "exists"
//! op        := = | != | < | <= | > | >= | in | glob | startswith | endswith | contains | regex
//! value     := "string" | 'string' | number | true | false | ( value, ... ) | LIST_NAME
//! ```

pub mod eval;
mod lexer;
mod parser;

pub use eval::{Compiled, compile};
pub use parser::{Ast, Op, Operand, parse};

/// A problem at a byte offset of the condition text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CondError {
    pub offset: usize,
    pub message: String,
}
