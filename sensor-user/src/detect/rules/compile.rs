//! Raw definitions → a compiled [`RuleSet`]: list references expanded, globs compiled
//! once into set matchers, ids checked for duplicates across files.

use std::collections::HashMap;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::{
    Source,
    error::{Pos, RuleError, RuleErrors},
    kfilter::{self, KernelFilter},
    model::Rule,
    parse::{self, Parsed, Spanned, is_list_name},
    yaml,
};

/// Validated, compiled rules.
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Every enabled rule's file globs in one matcher; `file_owner[i]` is glob i's rule.
    files: GlobSet,
    file_owner: Vec<usize>,
    exclude: Vec<GlobSet>,
    allow: Vec<GlobSet>,
}

fn glob(pattern: &str, pos: &Pos, errs: &mut Vec<RuleError>) -> Option<Glob> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| errs.push(pos.error(format!("invalid glob '{pattern}': {}", e.kind()))))
        .ok()
}

fn build_set(globs: Vec<Glob>) -> GlobSet {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        b.add(g);
    }
    b.build().unwrap_or_else(|_| GlobSet::empty())
}

/// Replaces list names by their items.
fn expand(items: &[Spanned], parsed: &Parsed, errs: &mut Vec<RuleError>) -> Vec<Spanned> {
    let mut out = Vec::new();
    for (item, pos) in items {
        if is_list_name(item) {
            match parsed.lists.get(item) {
                Some((list, _)) => out.extend(list.iter().cloned()),
                None => errs.push(pos.error(format!("unknown list '{item}'"))),
            }
        } else {
            out.push((item.clone(), pos.clone()));
        }
    }
    out
}

fn absolute(items: &[Spanned], what: &str, errs: &mut Vec<RuleError>) {
    for (p, pos) in items {
        if !p.starts_with('/') && !p.starts_with("**/") {
            errs.push(pos.error(format!("{what} pattern '{p}' must be absolute or start with **/")));
        }
    }
}

impl RuleSet {
    /// Parses, validates and compiles `sources` in order. Reports every error.
    pub fn compile(sources: &[Source]) -> Result<RuleSet, RuleErrors> {
        let mut parsed = Parsed::default();
        let mut errs = Vec::new();
        for s in sources {
            match yaml::parse(&s.name, &s.text) {
                Ok(root) => parse::read_file(&root, &mut parsed, &mut errs),
                Err(e) => errs.push(e),
            }
        }
        let mut seen: HashMap<String, Pos> = HashMap::new();
        let mut rules = Vec::new();
        let mut file_globs = Vec::new();
        let mut file_owner = Vec::new();
        let mut exclude = Vec::new();
        let mut allow = Vec::new();
        for raw in &parsed.rules {
            let (id, id_pos) = &raw.id;
            if let Some(first) = seen.get(id) {
                errs.push(id_pos.error(format!("duplicate rule id '{id}' (first defined at {first})")));
                continue;
            }
            seen.insert(id.clone(), id_pos.clone());
            let files = expand(&raw.files, &parsed, &mut errs);
            absolute(&files, "file", &mut errs);
            let excl = expand(&raw.exclude_files, &parsed, &mut errs);
            let allowed = expand(&raw.allowed_executables, &parsed, &mut errs);
            absolute(&allowed, "executable", &mut errs);
            let idx = rules.len();
            for (p, pos) in &files {
                if let Some(g) = glob(p, pos, &mut errs)
                    && raw.enabled
                {
                    file_globs.push(g);
                    file_owner.push(idx);
                }
            }
            exclude.push(build_set(excl.iter().filter_map(|(p, pos)| glob(p, pos, &mut errs)).collect()));
            allow.push(build_set(allowed.iter().filter_map(|(p, pos)| glob(p, pos, &mut errs)).collect()));
            rules.push(Rule {
                id: id.clone(),
                name: raw.name.clone(),
                description: raw.description.clone(),
                severity: raw.severity,
                enabled: raw.enabled,
                techniques: raw.techniques.clone(),
                tags: raw.tags.clone(),
                event: raw.event,
                files: files.into_iter().map(|(p, _)| p).collect(),
                exclude_files: excl.into_iter().map(|(p, _)| p).collect(),
                allowed_executables: allowed.into_iter().map(|(p, _)| p).collect(),
                output: raw.output.clone(),
                pos: raw.pos.clone(),
            });
        }
        if !errs.is_empty() {
            errs.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
            errs.dedup();
            return Err(RuleErrors { errors: errs });
        }
        Ok(RuleSet { rules, files: build_set(file_globs), file_owner, exclude, allow })
    }

    /// All rules, disabled ones included, in definition order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn enabled_count(&self) -> usize {
        self.rules.iter().filter(|r| r.enabled).count()
    }

    /// Enabled rules whose files match one of `paths` (and not their exclusions).
    fn watching(&self, paths: &[&str]) -> Vec<usize> {
        let mut hits: Vec<usize> = Vec::new();
        let mut idx = Vec::new();
        for p in paths {
            self.files.matches_into(p, &mut idx);
            for &g in &idx {
                let r = self.file_owner[g];
                if !hits.contains(&r) && !self.exclude[r].is_match(p) {
                    hits.push(r);
                }
            }
        }
        hits.sort_unstable();
        hits
    }

    /// Rules that alert: they watch one of `paths` and do not allow `executable`.
    /// Returns indices into [`RuleSet::rules`].
    pub fn match_open(&self, paths: &[&str], executable: &str) -> Vec<usize> {
        let mut hits = self.watching(paths);
        hits.retain(|&r| !self.allow[r].is_match(executable));
        hits
    }

    /// True when some enabled rule watches one of `paths`, whoever opens it.
    pub fn is_watched(&self, paths: &[&str]) -> bool {
        !self.watching(paths).is_empty()
    }

    /// The kernel prefilter that lets through every open a rule could match.
    pub fn kernel_filter(&self) -> KernelFilter {
        kfilter::derive(self.rules.iter().filter(|r| r.enabled))
    }

    /// File globs of the enabled rules, for the on-disk store scan.
    pub fn file_patterns(&self) -> Vec<String> {
        let mut v: Vec<String> =
            self.rules.iter().filter(|r| r.enabled).flat_map(|r| r.files.iter().cloned()).collect();
        v.sort();
        v.dedup();
        v
    }
}
