//! Raw definitions → a compiled [`RuleSet`]: lists and macros expanded, conditions
//! type-checked, globs compiled once into set matchers, exceptions with counters.

use std::collections::HashMap;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};

use super::{
    Source,
    cond::{
        self, Ast, Compiled,
        eval::{Env, Origin},
    },
    error::{Pos, RuleError, RuleErrors},
    exceptions::{Exception, uid_of},
    facts::Facts,
    kfilter::{self, KernelFilter},
    model::Rule,
    parse::{self, Parsed, RawException, Spanned, UserRef, is_list_name},
    source::Located,
    yaml,
};

/// Validated, compiled rules.
pub struct RuleSet {
    rules: Vec<Rule>,
    /// Every enabled rule's file globs in one matcher; `file_owner[i]` is glob i's rule.
    files: GlobSet,
    file_owner: Vec<usize>,
    /// Enabled rules with no `files`: checked on every event.
    unfiltered: Vec<usize>,
    exclude: Vec<GlobSet>,
    allow: Vec<GlobSet>,
    conditions: Vec<Vec<Compiled>>,
    exceptions: Vec<Vec<Exception>>,
    /// Non-fatal findings (`rules check` prints them).
    pub warnings: Vec<String>,
    /// Rules watching a single path, by path: stores are opened again and again, and
    /// the answer only changes with the rules (a new set starts empty).
    watch_cache: std::sync::Mutex<std::collections::HashMap<String, Vec<usize>>>,
}

/// Paths remembered by the watch cache before it starts over.
const WATCH_CACHE_MAX: usize = 4096;

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

fn glob_set(items: &[Spanned], errs: &mut Vec<RuleError>) -> GlobSet {
    build_set(items.iter().filter_map(|(p, pos)| glob(p, pos, errs)).collect())
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

/// Parses every macro; errors point inside the macro text.
fn parse_macros(parsed: &Parsed, errs: &mut Vec<RuleError>) -> HashMap<String, Option<Ast>> {
    parsed
        .macros
        .iter()
        .map(|(name, loc)| {
            let ast = cond::parse(&loc.text).map_err(|e| errs.push(loc.at(e.offset).error(e.message))).ok();
            (name.clone(), ast)
        })
        .collect()
}

/// Compiles a condition, placing errors in it or in the macro they come from.
fn compile_condition(
    loc: &Located,
    env: &Env<'_>,
    parsed: &Parsed,
    errs: &mut Vec<RuleError>,
) -> Option<Compiled> {
    let ast = cond::parse(&loc.text).map_err(|e| errs.push(loc.at(e.offset).error(e.message))).ok()?;
    let mut cerrs = Vec::new();
    let c = cond::compile(&ast, env, &Origin::Here, &mut Vec::new(), &mut cerrs);
    for (origin, e) in cerrs {
        let at = match &origin {
            Origin::Here => loc.at(e.offset),
            Origin::Macro(m) => parsed.macros.get(m).map_or_else(|| loc.pos.clone(), |l| l.at(e.offset)),
        };
        errs.push(at.error(e.message));
    }
    c
}

fn compile_exception(
    e: &RawException,
    parsed: &Parsed,
    warnings: &mut Vec<String>,
    errs: &mut Vec<RuleError>,
) -> Exception {
    let set = |items: &[Spanned], errs: &mut Vec<RuleError>| {
        (!items.is_empty()).then(|| glob_set(&expand(items, parsed, errs), errs))
    };
    let users = (!e.users.is_empty()).then(|| {
        e.users
            .iter()
            .filter_map(|(u, pos)| match u {
                UserRef::Uid(n) => Some(*n),
                UserRef::Name(name) => uid_of(name).or_else(|| {
                    warnings.push(format!(
                        "{pos}: user '{name}' does not exist on this host: that entry never matches"
                    ));
                    None
                }),
            })
            .collect()
    });
    Exception {
        name: e.name.0.clone(),
        executables: set(&e.executables, errs),
        files: set(&e.files, errs),
        users,
        parent_executables: set(&e.parent_executables, errs),
        ancestors: set(&e.ancestors, errs),
        hits: 0.into(),
    }
}

impl RuleSet {
    /// Parses, validates and compiles `sources` in order. Reports every error.
    pub fn compile(sources: &[Source]) -> Result<RuleSet, RuleErrors> {
        let mut parsed = Parsed::default();
        let mut errs = Vec::new();
        for s in sources {
            match yaml::parse(&s.name, &s.text) {
                Ok(root) => parse::read_file(&root, &s.text, &mut parsed, &mut errs),
                Err(e) => errs.push(e),
            }
        }
        let lists: HashMap<String, Vec<String>> = parsed
            .lists
            .iter()
            .map(|(k, (v, _))| (k.clone(), v.iter().map(|(s, _)| s.clone()).collect()))
            .collect();
        let macros = parse_macros(&parsed, &mut errs);
        let env = Env { lists: &lists, macros: &macros };
        // Each macro on its own, so cycles and unknown names are reported once, there.
        for (name, ast) in &macros {
            if let Some(ast) = ast {
                let mut cerrs = Vec::new();
                cond::compile(ast, &env, &Origin::Macro(name.clone()), &mut vec![name.clone()], &mut cerrs);
                for (origin, e) in cerrs {
                    let Origin::Macro(m) = origin else { continue };
                    if let Some(loc) = parsed.macros.get(&m) {
                        errs.push(loc.at(e.offset).error(e.message));
                    }
                }
            }
        }
        let mut set = RuleSet {
            rules: Vec::new(),
            files: GlobSet::empty(),
            file_owner: Vec::new(),
            unfiltered: Vec::new(),
            exclude: Vec::new(),
            allow: Vec::new(),
            conditions: Vec::new(),
            exceptions: Vec::new(),
            warnings: Vec::new(),
            watch_cache: Default::default(),
        };
        let mut file_globs = Vec::new();
        for raw in &parsed.rules {
            let idx = set.rules.len();
            let files = expand(&raw.files, &parsed, &mut errs);
            absolute(&files, "file", &mut errs);
            let excl = expand(&raw.exclude_files, &parsed, &mut errs);
            let allowed = expand(&raw.allowed_executables, &parsed, &mut errs);
            absolute(&allowed, "executable", &mut errs);
            for (p, pos) in &files {
                if let Some(g) = glob(p, pos, &mut errs)
                    && raw.enabled
                {
                    file_globs.push(g);
                    set.file_owner.push(idx);
                }
            }
            if !raw.files.is_empty() && files.is_empty() {
                errs.push(raw.id.1.error(format!(
                    "rule '{}': `files` expands to nothing (empty list): it would watch every file",
                    raw.id.0
                )));
            }
            if raw.files.is_empty() && raw.enabled {
                set.unfiltered.push(idx);
            }
            set.exclude.push(glob_set(&excl, &mut errs));
            set.allow.push(glob_set(&allowed, &mut errs));
            let conds: Vec<Compiled> = raw
                .conditions
                .iter()
                .filter_map(|c| compile_condition(c, &env, &parsed, &mut errs))
                .collect();
            set.conditions.push(conds);
            let exc: Vec<Exception> = raw
                .exceptions
                .iter()
                .map(|e| compile_exception(e, &parsed, &mut set.warnings, &mut errs))
                .collect();
            set.exceptions.push(exc);
            set.rules.push(Rule {
                id: raw.id.0.clone(),
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
                condition: raw
                    .conditions
                    .iter()
                    .map(|c| format!("({})", c.text.trim()))
                    .collect::<Vec<_>>()
                    .join(" and "),
                exceptions: raw.exceptions.iter().map(|e| e.name.0.clone()).collect(),
                output: raw.output.clone(),
                pos: raw.pos.clone(),
            });
        }
        if !errs.is_empty() {
            // In load order, then by position.
            let order = |f: &str| sources.iter().position(|s| s.name == f).unwrap_or(usize::MAX);
            errs.sort_by_key(|e| (order(&e.file), e.line, e.col));
            errs.dedup();
            return Err(RuleErrors { errors: errs });
        }
        set.files = build_set(file_globs);
        for f in &set.kernel_filter().unfilterable {
            set.warnings.push(format!(
                "rule {f} cannot be prefiltered in the kernel: every file open will go through userspace"
            ));
        }
        Ok(set)
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
        let [path] = paths else { return self.watching_uncached(paths) };
        let mut cache = self.watch_cache.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(hits) = cache.get(*path) {
            return hits.clone();
        }
        let hits = self.watching_uncached(paths);
        if cache.len() >= WATCH_CACHE_MAX {
            cache.clear();
        }
        cache.insert((*path).to_string(), hits.clone());
        hits
    }

    fn watching_uncached(&self, paths: &[&str]) -> Vec<usize> {
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
        hits
    }

    /// Rules that alert for this event: they watch the file (or have no `files`), do
    /// not allow the executable, their conditions hold and no exception covers it.
    /// Returns indices into [`RuleSet::rules`], in order.
    pub fn match_event(&self, f: &Facts<'_>) -> Vec<usize> {
        self.alerting(f, &self.watching(&f.paths))
    }

    /// [`RuleSet::match_event`] for a caller that already has the rules watching the
    /// file ([`RuleSet::watching_rules`]): the glob sets are matched once per event.
    pub fn alerting(&self, f: &Facts<'_>, watching: &[usize]) -> Vec<usize> {
        let mut hits = watching.to_vec();
        hits.extend(self.unfiltered.iter().copied());
        hits.retain(|&r| {
            !self.allow[r].is_match(f.executable)
                && self.conditions[r].iter().all(|c| c.eval(f))
                && !self.exceptions[r].iter().any(|e| e.check(f))
        });
        hits.sort_unstable();
        hits
    }

    /// [`RuleSet::match_event`] with only a path and an executable known.
    pub fn match_open(&self, paths: &[&str], executable: &str) -> Vec<usize> {
        self.match_event(&Facts { paths: paths.to_vec(), executable, ..Facts::default() })
    }

    /// Whether rule `id` allows `executable` to open its files (its owning programs).
    pub fn allows(&self, id: &str, executable: &str) -> bool {
        self.rules.iter().position(|r| r.id == id).is_some_and(|i| self.allow[i].is_match(executable))
    }

    /// Enabled rules whose `files` cover one of `paths`, whoever opens it.
    pub fn watching_rules(&self, paths: &[&str]) -> Vec<usize> {
        let mut v = self.watching(paths);
        v.sort_unstable();
        v
    }

    /// True when some enabled rule's `files` cover one of `paths`, whoever opens it.
    pub fn is_watched(&self, paths: &[&str]) -> bool {
        !self.watching(paths).is_empty()
    }

    /// (rule id, exception name, hits) for every exception.
    pub fn exception_hits(&self) -> Vec<(&str, &str, u64)> {
        self.rules
            .iter()
            .zip(&self.exceptions)
            .flat_map(|(r, ex)| ex.iter().map(move |e| (r.id.as_str(), e.name.as_str(), e.hits())))
            .collect()
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
