//! Reading the ECS document: every field the mapping uses is recorded, so whatever it
//! did not use can be kept under `unmapped` and nothing is lost.

use std::{cell::RefCell, collections::BTreeSet};

use serde_json::{Map, Value};

/// An ECS document being mapped, with the dotted paths the mapping consumed.
pub struct Ecs<'a> {
    doc: &'a Value,
    used: RefCell<BTreeSet<String>>,
}

impl<'a> Ecs<'a> {
    pub fn new(doc: &'a Value) -> Self {
        Self { doc, used: RefCell::new(BTreeSet::new()) }
    }

    /// The value at a dotted path, without recording it (it stays in `unmapped`).
    pub fn peek(&self, path: &str) -> Option<&'a Value> {
        let mut cur = self.doc;
        for part in path.split('.') {
            cur = cur.as_object()?.get(part)?;
        }
        (!cur.is_null()).then_some(cur)
    }

    /// The value at a dotted path; recorded as mapped (with everything under it).
    pub fn take(&self, path: &str) -> Option<&'a Value> {
        let v = self.peek(path)?;
        self.used.borrow_mut().insert(path.to_string());
        Some(v)
    }

    /// [`take`](Self::take) when `mark`, else [`peek`](Self::peek).
    pub fn get(&self, path: &str, mark: bool) -> Option<&'a Value> {
        if mark { self.take(path) } else { self.peek(path) }
    }

    /// A non-empty string at `path`, recorded as mapped.
    pub fn str(&self, path: &str) -> Option<&'a str> {
        self.peek(path).and_then(Value::as_str).filter(|s| !s.is_empty())?;
        self.take(path).and_then(Value::as_str)
    }

    /// An unsigned integer at `path`, recorded as mapped.
    pub fn u64(&self, path: &str) -> Option<u64> {
        self.peek(path).and_then(Value::as_u64)?;
        self.take(path).and_then(Value::as_u64)
    }

    /// Every field of the document that no mapping recorded, in its ECS shape.
    pub fn unmapped(&self) -> Value {
        let used = self.used.borrow();
        match self.doc {
            Value::Object(m) => Value::Object(leftover(m, "", &used)),
            // Not an ECS object at all: keep it whole.
            other => serde_json::json!({ "document": other }),
        }
    }
}

fn leftover(m: &Map<String, Value>, prefix: &str, used: &BTreeSet<String>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in m {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        if used.contains(&path) {
            continue;
        }
        match v {
            Value::Object(inner) => {
                let rest = leftover(inner, &path, used);
                // An object all of whose fields were mapped is gone; an empty one is kept.
                if !rest.is_empty() || inner.is_empty() {
                    out.insert(k.clone(), Value::Object(rest));
                }
            }
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    out
}

/// Builds a JSON object, leaving out absent values and empty objects or arrays.
#[derive(Default)]
pub struct Obj(pub Map<String, Value>);

impl Obj {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn set(&mut self, key: &str, v: impl Into<Value>) -> &mut Self {
        let v = v.into();
        let empty = match &v {
            Value::Null => true,
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            Value::String(s) => s.is_empty(),
            _ => false,
        };
        if !empty {
            self.0.insert(key.to_string(), v);
        }
        self
    }

    pub fn opt<T: Into<Value>>(&mut self, key: &str, v: Option<T>) -> &mut Self {
        if let Some(v) = v {
            self.set(key, v);
        }
        self
    }

    pub fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The object, or `None` when it has nothing in it.
    pub fn some(self) -> Option<Value> {
        (!self.0.is_empty()).then_some(Value::Object(self.0))
    }

    pub fn value(self) -> Value {
        Value::Object(self.0)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn unmapped_keeps_exactly_what_was_not_taken() {
        let d = json!({"a": {"b": 1, "c": {"d": 2}}, "e": [1, 2], "f": {}});
        let e = Ecs::new(&d);
        assert_eq!(e.u64("a.b"), Some(1));
        assert_eq!(e.peek("a.c.d"), Some(&json!(2)), "peek does not record");
        assert_eq!(e.unmapped(), json!({"a": {"c": {"d": 2}}, "e": [1, 2], "f": {}}));
        e.take("a.c");
        assert_eq!(e.unmapped(), json!({"e": [1, 2], "f": {}}));
    }

    #[test]
    fn wrong_types_and_missing_paths_are_none_and_not_recorded() {
        let d = json!({"a": "x", "n": null, "s": ""});
        let e = Ecs::new(&d);
        assert_eq!(e.u64("a"), None);
        assert_eq!(e.str("a.b"), None);
        assert_eq!(e.str("s"), None);
        assert_eq!(e.take("n"), None);
        assert_eq!(e.unmapped(), d);
        assert_eq!(Ecs::new(&json!([1])).unmapped(), json!({"document": [1]}));
    }

    #[test]
    fn obj_drops_empty_values() {
        let mut o = Obj::new();
        o.set("a", Value::Null).set("b", json!({})).set("c", "").set("d", 0).opt("e", None::<u8>);
        assert_eq!(o.value(), json!({"d": 0}));
    }
}
