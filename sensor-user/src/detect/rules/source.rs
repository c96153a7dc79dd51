//! Mapping offsets inside a YAML string back to `file:line:col`, so errors inside a
//! condition point at the offending token, not just at the condition.

use super::{error::Pos, yaml::Node};

/// A string scalar with enough of its source layout to locate any offset in it.
#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub text: String,
    pub pos: Pos,
    /// (line, column of the first content character, content length) per source line.
    segments: Vec<(usize, usize, usize)>,
}

impl Located {
    /// Builds the layout of `node` (a string) from the file's text.
    pub fn new(node: &Node, text: String, source: &str) -> Self {
        let lines: Vec<&str> = source.lines().collect();
        let line = node.pos.line;
        let first = lines.get(line.wrapping_sub(1)).copied().unwrap_or_default();
        let indicator = first.chars().nth(node.pos.col.wrapping_sub(1));
        // saphyr places a block scalar (`|`, `>`) at its first content line: recognise it
        // by the indicator ending the previous line.
        let only_indent = first.chars().take(node.pos.col.saturating_sub(1)).all(|c| c == ' ');
        let prev = line.checked_sub(2).and_then(|i| lines.get(i)).map_or("", |l| l.trim_end());
        let block = only_indent
            && ["|", ">", "|-", ">-", "|+", ">+"].iter().any(|ind| prev.ends_with(&format!(" {ind}")));
        let mut segments = Vec::new();
        match indicator {
            _ if block => {
                // Block scalar: every content line at the block's indentation.
                let mut indent = None;
                for (i, l) in lines.iter().enumerate().skip(line - 1) {
                    let lead = l.len() - l.trim_start().len();
                    if l.trim().is_empty() {
                        segments.push((i + 1, lead + 1, 0));
                        continue;
                    }
                    let want = *indent.get_or_insert(lead);
                    if lead < want {
                        break;
                    }
                    segments.push((i + 1, want + 1, l.len() - want));
                }
            }
            Some('"') | Some('\'') => segments.push((line, node.pos.col + 1, text.len())),
            _ => segments.push((line, node.pos.col, text.len())),
        }
        Located { text, pos: node.pos.clone(), segments }
    }

    /// The position of byte `offset` of the text.
    pub fn at(&self, offset: usize) -> Pos {
        let mut rest = offset;
        for (line, col, len) in &self.segments {
            if rest <= *len {
                return Pos { file: self.pos.file.clone(), line: *line, col: col + rest };
            }
            rest -= len + 1;
        }
        self.pos.clone()
    }
}
