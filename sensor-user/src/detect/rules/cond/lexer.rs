//! Tokens of a condition, each with its byte offset.

use super::CondError;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    /// Field names, keywords, list and macro names (letters, digits, `_ . -`).
    Word(String),
    Str(String),
    Num(u64),
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

pub fn lex(text: &str) -> Result<Vec<(Tok, usize)>, CondError> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => {
                out.push((Tok::LParen, i));
                i += 1;
            }
            b')' => {
                out.push((Tok::RParen, i));
                i += 1;
            }
            b',' => {
                out.push((Tok::Comma, i));
                i += 1;
            }
            b'=' => {
                out.push((Tok::Eq, i));
                i += if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
            }
            b'!' if b.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Ne, i));
                i += 2;
            }
            b'<' if b.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Le, i));
                i += 2;
            }
            b'>' if b.get(i + 1) == Some(&b'=') => {
                out.push((Tok::Ge, i));
                i += 2;
            }
            b'<' => {
                out.push((Tok::Lt, i));
                i += 1;
            }
            b'>' => {
                out.push((Tok::Gt, i));
                i += 1;
            }
            b'"' | b'\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => {
                            return Err(CondError { offset: start, message: "unterminated string".into() });
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') if b.get(i + 1).is_some_and(|n| *n == c || *n == b'\\') => {
                            s.push(b[i + 1] as char);
                            i += 2;
                        }
                        Some(_) => {
                            let ch = text[i..].chars().next().expect("in bounds");
                            s.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push((Tok::Str(s), start));
            }
            b'0'..=b'9' => {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                let n = text[start..i]
                    .parse()
                    .map_err(|_| CondError { offset: start, message: "number too large".into() })?;
                out.push((Tok::Num(n), start));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'-')) {
                    i += 1;
                }
                out.push((Tok::Word(text[start..i].to_string()), start));
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(CondError { offset: start, message: format!("unexpected character '{ch}'") });
            }
        }
    }
    Ok(out)
}
