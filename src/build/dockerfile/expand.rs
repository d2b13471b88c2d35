//! Variable substitution as BuildKit's shell lexer does it, and the ARG/ENV scoping that
//! decides which variables an instruction sees.
//!
//! [`Lexer`] handles `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:+alt}`, `${VAR+alt}`, `${VAR:?msg}`, `${VAR#pat}`/`##`/`%`/`%%`, `${VAR/a/b}`,
//! escapes and quotes. [`expand_stage`] walks a stage and yields each instruction with its
//! arguments substituted where Docker substitutes them (ADD, COPY, ENV, ARG, EXPOSE, FROM,
//! LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, `RUN --mount`), never in RUN/CMD/ENTRYPOINT
//! commands (the shell does that) nor in ONBUILD triggers (expanded in the child build).
//!
//! Not for: running anything, nor resolving a base image's config (the caller passes the
//! base's `ENV` in).

use std::collections::BTreeMap;

use regex::Regex;

use super::{ArgDecl, CopySource, Dockerfile, DockerfileError, Instruction, KeyValue, Stage};

/// Variables visible to a substitution, by exact (case-sensitive) name.
pub type Vars = BTreeMap<String, String>;

/// A shell-word processor for one escape character.
#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    escape: char,
    /// Quotes are ordinary characters (heredoc bodies).
    skip_quotes: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            skip_quotes: false,
        }
    }

    /// Substitutes variables and removes quotes, keeping whitespace (one word).
    pub fn process_word(&self, word: &str, vars: &Vars) -> Result<String, String> {
        self.process(word, vars).map(|(w, _)| w)
    }

    /// Substitutes variables then splits into words on unquoted whitespace.
    pub fn process_words(&self, word: &str, vars: &Vars) -> Result<Vec<String>, String> {
        self.process(word, vars).map(|(_, ws)| ws)
    }

    fn process(&self, word: &str, vars: &Vars) -> Result<(String, Vec<String>), String> {
        let mut state = WordState {
            chars: word.chars().collect(),
            pos: 0,
            lexer: *self,
            vars,
            raw_escapes: false,
        };
        state
            .process_stop_on(None, false)
            .map_err(|e| format!("failed to process \"{word}\": {e}"))
    }
}

struct WordState<'a> {
    chars: Vec<char>,
    pos: usize,
    lexer: Lexer,
    vars: &'a Vars,
    raw_escapes: bool,
}

#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c);
        }
    }
    fn add_raw_char(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }
    fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }
    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }
    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}

impl WordState<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Result<(String, Vec<String>), String> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let result = self.process_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn process_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            if c == '$' {
                let value = self.process_dollar()?;
                result.push_str(&value);
                words.add_string(&value);
            } else if c == '\'' && !self.lexer.skip_quotes {
                let value = self.process_single_quote()?;
                result.push_str(&value);
                words.add_raw_string(&value);
            } else if c == '"' && !self.lexer.skip_quotes {
                let value = self.process_double_quote()?;
                result.push_str(&value);
                words.add_raw_string(&value);
            } else {
                self.next();
                let mut c = c;
                if c == self.lexer.escape {
                    if self.raw_escapes {
                        words.add_raw_char(c);
                        result.push(c);
                    }
                    match self.next() {
                        Some(escaped) => c = escaped,
                        None => break,
                    }
                    words.add_raw_char(c);
                } else {
                    words.add_char(c);
                }
                result.push(c);
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> Result<String, String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    )
                }
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> Result<String, String> {
        self.next();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    )
                }
                Some('"') => {
                    self.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.process_dollar()?),
                Some(c) => {
                    self.next();
                    let mut c = c;
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.lexer.escape => {
                                self.next();
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    fn lookup(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned()
    }

    fn process_dollar(&mut self) -> Result<String, String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.lookup(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".to_string())
            }
            _ => {}
        }
        let name = self.process_name();
        let Some(mut c) = self.next() else {
            return Err("syntax error: missing '}'".to_string());
        };
        let mut modifier = c.to_string();
        let mut null_is_unset = false;
        match c {
            '}' => Ok(self.lookup(&name).unwrap_or_default()),
            ':' | '+' | '-' | '?' | '#' | '%' => {
                if c == ':' {
                    null_is_unset = true;
                    c = match self.next() {
                        Some(n) => n,
                        None => return Err("syntax error: missing '}'".to_string()),
                    };
                    modifier.push(c);
                    if !matches!(c, '+' | '-' | '?') {
                        return Err(format!("unsupported modifier ({modifier}) in substitution"));
                    }
                }
                let (word, _) = self
                    .process_stop_on(Some('}'), c == '#' || c == '%')
                    .map_err(|e| {
                        if e.starts_with("unexpected end") {
                            "syntax error: missing '}'".to_string()
                        } else {
                            e
                        }
                    })?;
                let value = self.lookup(&name);
                let empty = |v: &Option<String>| match v {
                    None => true,
                    Some(v) => null_is_unset && v.is_empty(),
                };
                match c {
                    '-' => Ok(if empty(&value) {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    '+' => Ok(if empty(&value) { String::new() } else { word }),
                    '?' => match value {
                        None => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        )),
                        Some(v) if null_is_unset && v.is_empty() => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            }
                        )),
                        Some(v) => Ok(v),
                    },
                    _ => {
                        let value = value.unwrap_or_default();
                        let (greedy, pattern) = match word.strip_prefix(c) {
                            Some(p) => (true, p.to_string()),
                            None => (false, word),
                        };
                        if c == '#' {
                            trim_prefix(&pattern, &value, greedy)
                        } else {
                            trim_suffix(&pattern, &value, greedy)
                        }
                    }
                }
            }
            '/' => {
                let replace_all = self.peek() == Some('/');
                if replace_all {
                    self.next();
                }
                let (pattern, _) = self.process_stop_on(Some('/'), true).map_err(|e| {
                    if e.starts_with("unexpected end") {
                        "syntax error: missing '/' in ${}".to_string()
                    } else {
                        e
                    }
                })?;
                let (replacement, _) = self.process_stop_on(Some('}'), true).map_err(|e| {
                    if e.starts_with("unexpected end") {
                        "syntax error: missing '}'".to_string()
                    } else {
                        e
                    }
                })?;
                let value = self.lookup(&name).unwrap_or_default();
                let re = pattern_regex(&pattern, true, false)?;
                Ok(if replace_all {
                    re.replace_all(&value, regex::NoExpand(&replacement))
                        .into_owned()
                } else {
                    re.replace(&value, regex::NoExpand(&replacement))
                        .into_owned()
                })
            }
            _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && "@*#?-$!0".contains(c) {
                self.next();
                return c.to_string();
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            self.next();
            name.push(c);
        }
        name
    }
}

/// A shell pattern (`*`, `?`, `\` escapes) as a regex, as BuildKit converts it.
fn pattern_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let mut out = String::new();
    if anchored {
        out.push('^');
    }
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(if greedy { ".*" } else { ".*?" }),
            '?' => out.push('.'),
            '\\' => match chars.peek() {
                Some('}') | Some('/') => {}
                Some(&n) if n == '*' || n == '?' || n == '\\' => {
                    chars.next();
                    out.push('\\');
                    out.push(n);
                }
                other => {
                    return Err(format!(
                        "invalid pattern ({pattern}) in substitution: invalid escape '\\{}'",
                        other.map(|c| c.to_string()).unwrap_or_default()
                    ))
                }
            },
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    Regex::new(&out).map_err(|e| format!("invalid pattern ({pattern}) in substitution: {e}"))
}

fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let re = pattern_regex(pattern, greedy, true)?;
    Ok(match re.find(value) {
        Some(m) => value[m.end()..].to_string(),
        None => value.to_string(),
    })
}

/// Matches the reversed pattern against the reversed value, as BuildKit does.
fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let reversed_pattern = reverse_pattern(pattern);
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reversed_pattern, &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern keeping each `\x` escape in front of its character.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            tokens.push(format!("\\{}", chars[i + 1]));
            i += 2;
        } else {
            tokens.push(chars[i].to_string());
            i += 1;
        }
    }
    tokens.reverse();
    tokens.concat()
}

/// An `os/arch[/variant]` platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub arch: String,
    pub variant: Option<String>,
}

impl Platform {
    /// The platform hoist runs on, in OCI names (`linux/amd64`, `linux/arm64`).
    pub fn host() -> Self {
        let (arch, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7".to_string())),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_string(),
            arch: arch.to_string(),
            variant,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.arch)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// What the user passes to a build that substitution depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOptions {
    /// `--build-arg` / compose `build.args`: override ARG defaults.
    pub build_args: Vars,
    pub build_platform: Platform,
    pub target_platform: Platform,
}

impl BuildOptions {
    /// Host platform for both, no build args.
    pub fn host() -> Self {
        BuildOptions {
            build_args: Vars::new(),
            build_platform: Platform::host(),
            target_platform: Platform::host(),
        }
    }
}

/// Build args usable in every stage without an `ARG` (Docker's predefined proxy args).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn platform_args(options: &BuildOptions) -> Vars {
    let mut vars = Vars::new();
    for (prefix, p) in [
        ("BUILD", &options.build_platform),
        ("TARGET", &options.target_platform),
    ] {
        vars.insert(format!("{prefix}PLATFORM"), p.to_string());
        vars.insert(format!("{prefix}OS"), p.os.clone());
        vars.insert(format!("{prefix}ARCH"), p.arch.clone());
        vars.insert(
            format!("{prefix}VARIANT"),
            p.variant.clone().unwrap_or_default(),
        );
    }
    vars
}

/// The ARGs before the first FROM, resolved: what `FROM` lines may use, and what an
/// `ARG name` inside a stage inherits. Includes the automatic platform args.
pub fn global_args(df: &Dockerfile, options: &BuildOptions) -> Result<Vars, DockerfileError> {
    let lexer = Lexer::new(df.directives.escape);
    let mut vars = platform_args(options);
    for step in &df.args_before_from {
        if let Instruction::Arg(decls) = &step.instruction {
            for decl in decls {
                let value = match (options.build_args.get(&decl.name), &decl.default) {
                    (Some(v), _) => Some(v.clone()),
                    (None, Some(default)) => Some(
                        lexer
                            .process_word(default, &vars)
                            .map_err(|e| DockerfileError::new(step.line, e))?,
                    ),
                    (None, None) => None,
                };
                match value {
                    Some(v) => vars.insert(decl.name.clone(), v),
                    None => vars.remove(&decl.name),
                };
            }
        }
    }
    Ok(vars)
}

/// A stage's `FROM` after substitution with the global args.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedFrom {
    pub base: String,
    pub platform: Option<String>,
    pub name: Option<String>,
}

pub fn expand_from(
    df: &Dockerfile,
    stage: &Stage,
    globals: &Vars,
) -> Result<ExpandedFrom, DockerfileError> {
    let lexer = Lexer::new(df.directives.escape);
    let word = |w: &str| {
        lexer
            .process_word(w, globals)
            .map_err(|e| DockerfileError::new(stage.line, e))
    };
    let base = word(&stage.base)?;
    if base.is_empty() {
        return Err(DockerfileError::new(
            stage.line,
            format!(
                "FROM {} expands to an empty image name (is the ARG declared before FROM and given a value?)",
                stage.base
            ),
        ));
    }
    Ok(ExpandedFrom {
        base,
        platform: stage.platform.as_deref().map(word).transpose()?,
        name: stage.name.clone(),
    })
}

/// One instruction of a stage, substituted, with the variables in scope when it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedStep {
    pub line: usize,
    /// The instruction as written (for progress output).
    pub text: String,
    /// The instruction with substitution applied where Docker applies it.
    pub instruction: Instruction,
    /// The image's environment before this instruction, in declaration order.
    pub env: Vec<(String, String)>,
    /// Build args in scope with a value (declared ARGs, plus proxy build args), sorted by
    /// name; a RUN sees those not shadowed by `env`. Part of a step's cache key.
    pub args: Vec<(String, String)>,
}

/// A stage walked from start to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedStage {
    pub from: ExpandedFrom,
    pub steps: Vec<ExpandedStep>,
    /// The environment after the last instruction (what a later `FROM <this stage>` starts with).
    pub env: Vec<(String, String)>,
}

/// Walks `stage`, substituting each instruction's arguments.
///
/// `base_env` is the base image's `ENV` (an earlier stage's [`ExpandedStage::env`], or the
/// pulled image's config); it takes part in substitution as it does in Docker.
pub fn expand_stage(
    df: &Dockerfile,
    stage: &Stage,
    options: &BuildOptions,
    base_env: &[(String, String)],
) -> Result<ExpandedStage, DockerfileError> {
    let globals = global_args(df, options)?;
    let from = expand_from(df, stage, &globals)?;
    let lexer = Lexer::new(df.directives.escape);
    let mut env: Vec<(String, String)> = base_env.to_vec();
    let mut args = Vars::new();
    for name in PROXY_ARGS {
        if let Some(v) = options.build_args.get(*name) {
            args.insert((*name).to_string(), v.clone());
        }
    }
    let mut steps = Vec::new();
    for step in &stage.instructions {
        let mut vars = args.clone();
        for (k, v) in &env {
            vars.insert(k.clone(), v.clone());
        }
        let word = |w: &str| {
            lexer
                .process_word(w, &vars)
                .map_err(|e| DockerfileError::new(step.line, e))
        };
        let expanded = match &step.instruction {
            Instruction::Env(pairs) | Instruction::Label(pairs) => {
                let pairs = pairs
                    .iter()
                    .map(|kv| {
                        Ok(KeyValue {
                            key: word(&kv.key)?,
                            value: word(&kv.value)?,
                        })
                    })
                    .collect::<Result<Vec<_>, DockerfileError>>()?;
                if matches!(step.instruction, Instruction::Env(_)) {
                    Instruction::Env(pairs)
                } else {
                    Instruction::Label(pairs)
                }
            }
            Instruction::Arg(decls) => {
                let mut resolved = Vec::new();
                for decl in decls {
                    let value = match (options.build_args.get(&decl.name), &decl.default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(default)) => Some(word(default)?),
                        (None, None) => globals.get(&decl.name).cloned(),
                    };
                    resolved.push(ArgDecl {
                        name: decl.name.clone(),
                        default: value,
                    });
                }
                Instruction::Arg(resolved)
            }
            Instruction::Copy(copy) | Instruction::Add(copy) => {
                let mut copy = copy.clone();
                let heredoc_lexer = Lexer {
                    escape: lexer.escape,
                    skip_quotes: true,
                };
                for source in &mut copy.sources {
                    match source {
                        CopySource::Path(p) => *p = word(p)?,
                        CopySource::Heredoc(doc) if doc.expand => {
                            doc.content = heredoc_lexer
                                .process_word(&doc.content, &vars)
                                .map_err(|e| DockerfileError::new(step.line, e))?;
                        }
                        CopySource::Heredoc(_) => {}
                    }
                }
                copy.dest = word(&copy.dest)?;
                for v in [&mut copy.from, &mut copy.chown, &mut copy.chmod]
                    .into_iter()
                    .flatten()
                {
                    *v = word(v)?;
                }
                if matches!(step.instruction, Instruction::Copy(_)) {
                    Instruction::Copy(copy)
                } else {
                    Instruction::Add(copy)
                }
            }
            Instruction::Expose(ports) => {
                let mut out = Vec::new();
                for port in ports {
                    out.extend(
                        lexer
                            .process_words(port, &vars)
                            .map_err(|e| DockerfileError::new(step.line, e))?,
                    );
                }
                Instruction::Expose(out)
            }
            Instruction::Volume(paths) => Instruction::Volume(
                paths
                    .iter()
                    .map(|p| word(p))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            Instruction::Workdir(p) => Instruction::Workdir(word(p)?),
            Instruction::User(u) => Instruction::User(word(u)?),
            Instruction::StopSignal(s) => Instruction::StopSignal(word(s)?),
            Instruction::Run(run) => {
                let mut run = run.clone();
                for mount in &mut run.mounts {
                    *mount = word(mount)?;
                }
                Instruction::Run(run)
            }
            other => other.clone(),
        };
        steps.push(ExpandedStep {
            line: step.line,
            text: step.text.clone(),
            instruction: expanded.clone(),
            env: env.clone(),
            args: args.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
        });
        match &expanded {
            Instruction::Env(pairs) => {
                for kv in pairs {
                    match env.iter_mut().find(|(k, _)| *k == kv.key) {
                        Some(slot) => slot.1 = kv.value.clone(),
                        None => env.push((kv.key.clone(), kv.value.clone())),
                    }
                }
            }
            Instruction::Arg(decls) => {
                for decl in decls {
                    match &decl.default {
                        Some(v) => args.insert(decl.name.clone(), v.clone()),
                        None => args.remove(&decl.name),
                    };
                }
            }
            _ => {}
        }
    }
    Ok(ExpandedStage { from, steps, env })
}

/// Walks every stage in order. A stage built `FROM` an earlier stage starts with that
/// stage's final `ENV`; any other base's `ENV` comes from `image_env(base)` (empty for
/// `scratch`; the builder looks the image's config up).
pub fn expand_stages(
    df: &Dockerfile,
    options: &BuildOptions,
    mut image_env: impl FnMut(&ExpandedFrom) -> Vec<(String, String)>,
) -> Result<Vec<ExpandedStage>, DockerfileError> {
    let globals = global_args(df, options)?;
    let mut done: Vec<ExpandedStage> = Vec::new();
    for (index, stage) in df.stages.iter().enumerate() {
        let from = expand_from(df, stage, &globals)?;
        let base_env = match stage_index(df, &from.base, index) {
            Some(parent) => done[parent].env.clone(),
            None if from.base == "scratch" => Vec::new(),
            None => image_env(&from),
        };
        done.push(expand_stage(df, stage, options, &base_env)?);
    }
    Ok(done)
}

/// The stages `target` needs, in build order (itself last): its base if an earlier stage,
/// and the stages named by `COPY --from` and `RUN --mount=...,from=`, transitively.
pub fn required_stages(df: &Dockerfile, stages: &[ExpandedStage], target: usize) -> Vec<usize> {
    let mut needed = vec![false; stages.len().min(df.stages.len())];
    let mut pending = vec![target];
    while let Some(index) = pending.pop() {
        if index >= needed.len() || needed[index] {
            continue;
        }
        needed[index] = true;
        let stage = &stages[index];
        let mut references = vec![stage.from.base.clone()];
        for step in &stage.steps {
            match &step.instruction {
                Instruction::Copy(copy) => references.extend(copy.from.clone()),
                Instruction::Run(run) => {
                    for mount in &run.mounts {
                        references.extend(
                            mount
                                .split(',')
                                .filter_map(|kv| kv.strip_prefix("from="))
                                .map(str::to_string),
                        );
                    }
                }
                _ => {}
            }
        }
        pending.extend(references.iter().filter_map(|r| stage_index(df, r, index)));
    }
    (0..needed.len()).filter(|i| needed[*i]).collect()
}

/// Build args no `ARG` declares (proxy args excepted), sorted: Docker warns
/// "One or more build-args [..] were not consumed".
pub fn unused_build_args(df: &Dockerfile, options: &BuildOptions) -> Vec<String> {
    let declared: Vec<&str> = df
        .args_before_from
        .iter()
        .chain(df.stages.iter().flat_map(|s| s.instructions.iter()))
        .filter_map(|step| match &step.instruction {
            Instruction::Arg(decls) => Some(decls.iter().map(|d| d.name.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    options
        .build_args
        .keys()
        .filter(|k| !declared.contains(&k.as_str()) && !PROXY_ARGS.contains(&k.as_str()))
        .cloned()
        .collect()
}

/// Finds the stage a `FROM` or `COPY --from` names: a stage name (case-insensitive) or
/// an index, counting only stages before `before`.
pub fn stage_index(df: &Dockerfile, reference: &str, before: usize) -> Option<usize> {
    let lower = reference.to_ascii_lowercase();
    if let Ok(index) = reference.parse::<usize>() {
        return (index < before.min(df.stages.len())).then_some(index);
    }
    df.stages
        .iter()
        .take(before)
        .position(|s| s.name.as_deref() == Some(lower.as_str()))
}

#[cfg(test)]
mod tests {
    use super::super::{parse, CopyArgs};
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn word(input: &str, env: &[(&str, &str)]) -> Result<String, String> {
        Lexer::new('\\').process_word(input, &vars(env))
    }

    /// Cases from BuildKit's `shell/lex_test.go` (`TestProcessWithMatches`) and `envVarTest`.
    #[test]
    fn buildkit_word_table() {
        let xb: &[(&str, &str)] = &[("FOO", "xxx"), ("BAR", "")];
        type Case<'a> = (&'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
        let cases: &[Case] = &[
            ("x", &[("DUMMY", "dummy")], Some("x")),
            ("x ${UNUSED}", &[], Some("x ")),
            ("x ${FOO}", &[("FOO", "y")], Some("x y")),
            ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", xb, Some("xxx  ccc")),
            (
                "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
                xb,
                Some("xxx bbb ccc"),
            ),
            ("${FOO:-}", xb, Some("xxx")),
            ("${FOO:-}", &[], Some("")),
            ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", xb, Some("aaa bbb ")),
            ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", xb, Some("aaa  ")),
            ("${FOO?aaa}", xb, Some("xxx")),
            ("${BAR?bbb}", xb, Some("")),
            ("${BAZ?ccc}", xb, None),
            ("${FOO:?aaa}", xb, Some("xxx")),
            ("${BAR:?bbb}", xb, None),
            ("${BAZ:?}", xb, None),
            ("${FOO=aaa}", xb, None),
            ("${FOO=}", &[], None),
            (
                "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
                &[("FOO", "()[]{}^$.*?|\\x")],
                Some("x"),
            ),
            ("${FOO%%\\**}", &[("FOO", "xx**")], Some("xx")),
            ("${FOO#*x*y}", &[("FOO", "xxyy")], Some("y")),
            ("${FOO#*}", &[("FOO", "xxyy")], Some("xxyy")),
            ("${FOO#$BAR}", &[("FOO", "xxyy"), ("BAR", "x")], Some("xyy")),
            ("${FOO##*x}", &[("FOO", "xxyy")], Some("yy")),
            ("${FOO#?\\?}", &[("FOO", "???y")], Some("?y")),
            (
                "${ABC:-.}${FOO%x}${ABC:-.}",
                &[("FOO", "xxyy")],
                Some(".xxyy."),
            ),
            ("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], Some("a")),
            ("${FOO%}", &[("FOO", "xxyy")], Some("xxyy")),
            (
                "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
                &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
                Some("/foo.*/*.txt - /foo..*.txt"),
            ),
            (
                "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
                &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
                Some("/tmp/bar.txt - /bar.txt"),
            ),
            (
                "${FOO//\\//\\/}",
                &[("FOO", "/tmp/foo.txt")],
                Some("\\/tmp\\/foo.txt"),
            ),
            ("${FOO//ww}", &[("FOO", "xxyy")], None),
            ("${FOO///}", &[("FOO", "xxyy")], Some("xxyy")),
            // envVarTest
            ("hello", &[], Some("hello")),
            ("he'll'o", &[], Some("hello")),
            ("he'llo", &[], None),
            ("he\\'llo", &[], Some("he'llo")),
            ("'hello\\'", &[], Some("hello\\")),
            ("\"\"", &[], Some("")),
            ("he\"l\"lo", &[], Some("hello")),
            ("he\"llo", &[], None),
            ("\"hello\\\"\"", &[], Some("hello\"")),
            ("'$1'", &[], Some("$1")),
            ("\"$PWD\"", &[("PWD", "/home")], Some("/home")),
            ("$PWD", &[("PWD", "/home")], Some("/home")),
            ("\\$PWD", &[("PWD", "/home")], Some("$PWD")),
            ("'${PWD}'", &[("PWD", "/home")], Some("${PWD}")),
            ("${PWD}xx", &[("PWD", "/home")], Some("/homexx")),
            ("${PWD:=xxx}", &[("PWD", "/home")], None),
            ("${PWD", &[("PWD", "/home")], None),
            ("${}", &[], None),
            ("${:}", &[], None),
            ("${{}", &[], None),
            ("${KOREAN}", &[("KOREAN", "한국어")], Some("한국어")),
            ("안녕${KOREAN}", &[("KOREAN", "한국어")], Some("안녕한국어")),
            ("$", &[], Some("$")),
            ("a$", &[], Some("a$")),
            ("$1x", &[], Some("x")),
            ("${NULL:-a}", &[("NULL", "")], Some("a")),
            ("${NULL-a}", &[("NULL", "")], Some("")),
            ("\"abc\\def\"", &[], Some("abc\\def")),
            ("hello\\", &[], Some("hello")),
        ];
        for (input, env, expected) in cases {
            let got = word(input, env);
            match expected {
                Some(want) => assert_eq!(got.as_deref(), Ok(*want), "input {input:?}"),
                None => assert!(got.is_err(), "input {input:?} gave {got:?}"),
            }
        }
    }

    #[test]
    fn error_messages_name_the_problem() {
        assert_eq!(
            word("${BAZ:?must be set}", &[]),
            Err("failed to process \"${BAZ:?must be set}\": BAZ: must be set".to_string())
        );
        assert_eq!(
            word("'abc", &[]),
            Err("failed to process \"'abc\": unexpected end of statement while looking for matching single-quote".to_string())
        );
        assert_eq!(
            word("${X", &[]),
            Err("failed to process \"${X\": syntax error: missing '}'".to_string())
        );
    }

    #[test]
    fn words_split_after_substitution() {
        let lex = Lexer::new('\\');
        let env = vars(&[("PORTS", "80 443"), ("ONE", "a b")]);
        assert_eq!(
            lex.process_words("$PORTS", &env).unwrap(),
            vec!["80", "443"]
        );
        assert_eq!(
            lex.process_words("\"$ONE\" c", &env).unwrap(),
            vec!["a b", "c"]
        );
        assert_eq!(
            lex.process_words("x\\ y z", &env).unwrap(),
            vec!["x y", "z"]
        );
        assert_eq!(lex.process_words("  ", &env).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn backtick_escape_keeps_backslashes_literal() {
        let lex = Lexer::new('`');
        let env = vars(&[("D", "dir")]);
        assert_eq!(lex.process_word("c:\\$D", &env).unwrap(), "c:\\dir");
        assert_eq!(lex.process_word("`$D", &env).unwrap(), "$D");
    }

    fn walk(text: &str, build_args: &[(&str, &str)]) -> ExpandedStage {
        let df = parse(text).unwrap();
        let options = BuildOptions {
            build_args: vars(build_args),
            build_platform: Platform {
                os: "linux".into(),
                arch: "amd64".into(),
                variant: None,
            },
            target_platform: Platform {
                os: "linux".into(),
                arch: "arm".into(),
                variant: Some("v7".into()),
            },
        };
        let last = df.stages.last().unwrap();
        expand_stage(&df, last, &options, &[]).unwrap()
    }

    fn workdirs(stage: &ExpandedStage) -> Vec<String> {
        stage
            .steps
            .iter()
            .filter_map(|s| match &s.instruction {
                Instruction::Workdir(w) => Some(w.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn arg_before_from_is_only_visible_in_from() {
        let stage = walk(
            "ARG VERSION=20\nFROM node:${VERSION}-alpine\nWORKDIR /v$VERSION\n",
            &[],
        );
        assert_eq!(stage.from.base, "node:20-alpine");
        assert_eq!(workdirs(&stage), vec!["/v"]);
    }

    #[test]
    fn redeclared_arg_inherits_the_global_value() {
        let stage = walk(
            "ARG VERSION=20\nFROM node:${VERSION}\nARG VERSION\nWORKDIR /v$VERSION\n",
            &[],
        );
        assert_eq!(workdirs(&stage), vec!["/v20"]);
        let stage = walk(
            "ARG VERSION=20\nFROM node:${VERSION}\nARG VERSION\nWORKDIR /v$VERSION\n",
            &[("VERSION", "22")],
        );
        assert_eq!(stage.from.base, "node:22");
        assert_eq!(workdirs(&stage), vec!["/v22"]);
        assert_eq!(
            stage.steps[1].args,
            vec![("VERSION".to_string(), "22".to_string())]
        );
    }

    #[test]
    fn build_args_override_arg_defaults() {
        let stage = walk(
            "FROM a\nARG MODE=dev\nWORKDIR /$MODE\n",
            &[("MODE", "prod")],
        );
        assert_eq!(workdirs(&stage), vec!["/prod"]);
        // A build arg for an undeclared ARG is not visible.
        let stage = walk("FROM a\nWORKDIR /x$MODE\n", &[("MODE", "prod")]);
        assert_eq!(workdirs(&stage), vec!["/x"]);
    }

    #[test]
    fn env_overrides_arg_of_the_same_name() {
        let stage = walk(
            "FROM a\nARG CONT_IMG_VER\nENV CONT_IMG_VER=v1.0.0\nWORKDIR /$CONT_IMG_VER\n",
            &[("CONT_IMG_VER", "v2.0.1")],
        );
        assert_eq!(workdirs(&stage), vec!["/v1.0.0"]);
        // The docs' pattern: ENV takes the ARG's value, with a default.
        let stage = walk(
            "FROM a\nARG CONT_IMG_VER\nENV CONT_IMG_VER=${CONT_IMG_VER:-v1.0.0}\nWORKDIR /$CONT_IMG_VER\n",
            &[("CONT_IMG_VER", "v2.0.1")],
        );
        assert_eq!(workdirs(&stage), vec!["/v2.0.1"]);
        assert_eq!(
            stage.env,
            vec![("CONT_IMG_VER".to_string(), "v2.0.1".to_string())]
        );
    }

    #[test]
    fn arg_is_in_scope_only_after_its_declaration() {
        let stage = walk(
            "FROM a\nUSER ${who:-some_user}\nARG who\nUSER $who\n",
            &[("who", "me")],
        );
        let users: Vec<_> = stage
            .steps
            .iter()
            .filter_map(|s| match &s.instruction {
                Instruction::User(u) => Some(u.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(users, vec!["some_user", "me"]);
    }

    #[test]
    fn env_pairs_on_one_line_see_the_previous_env() {
        let stage = walk(
            "FROM a\nENV abc=hello\nENV abc=bye def=$abc\nENV ghi=$abc\n",
            &[],
        );
        assert_eq!(
            stage.env,
            vec![
                ("abc".to_string(), "bye".to_string()),
                ("def".to_string(), "hello".to_string()),
                ("ghi".to_string(), "bye".to_string()),
            ]
        );
        assert_eq!(stage.steps[2].env.len(), 2);
    }

    #[test]
    fn predefined_platform_args_need_an_arg_inside_a_stage() {
        let stage = walk(
            "FROM --platform=$BUILDPLATFORM golang AS b\nWORKDIR /$TARGETARCH\nARG TARGETARCH\nARG TARGETPLATFORM\nWORKDIR /$TARGETARCH/${TARGETVARIANT:-none}\nLABEL p=$TARGETPLATFORM\n",
            &[],
        );
        assert_eq!(stage.from.platform.as_deref(), Some("linux/amd64"));
        assert_eq!(workdirs(&stage), vec!["/", "/arm/none"]);
        assert!(matches!(
            &stage.steps[4].instruction,
            Instruction::Label(l) if l[0].value == "linux/arm/v7"
        ));
    }

    #[test]
    fn proxy_build_args_are_in_scope_without_arg() {
        let stage = walk(
            "FROM a\nRUN curl x\n",
            &[("HTTP_PROXY", "http://p:3128"), ("OTHER", "x")],
        );
        assert_eq!(
            stage.steps[0].args,
            vec![("HTTP_PROXY".to_string(), "http://p:3128".to_string())]
        );
    }

    #[test]
    fn run_cmd_entrypoint_are_not_substituted() {
        let stage = walk(
            "FROM a\nENV X=1\nRUN --mount=type=cache,target=/c$X echo $X\nCMD echo $X\nENTRYPOINT [\"$X\"]\nONBUILD WORKDIR $X\n",
            &[],
        );
        let Instruction::Run(run) = &stage.steps[1].instruction else {
            panic!()
        };
        assert_eq!(
            run.command,
            super::super::CommandLine::Shell("echo $X".into())
        );
        assert_eq!(run.mounts, vec!["type=cache,target=/c1"]);
        assert_eq!(stage.steps[1].env, vec![("X".to_string(), "1".to_string())]);
        assert!(stage.steps[2].text.contains("$X"));
        assert!(
            matches!(&stage.steps[4].instruction, Instruction::Onbuild(s) if s.text == "WORKDIR $X")
        );
    }

    #[test]
    fn copy_expose_volume_label_stopsignal_are_substituted() {
        let stage = walk(
            "FROM a\nARG SRC=app DEST=/srv UID=1000 PORT=8080 SIG=TERM\nCOPY --chown=$UID:$UID --from=${SRC}-build [\"$SRC dir\", \"$DEST/\"]\nEXPOSE $PORT ${PORT}/udp\nVOLUME $DEST/data\nLABEL \"who\"=\"$UID x\"\nSTOPSIGNAL SIG$SIG\nCOPY <<EOF <<'RAW' /etc/\nuid $UID \"q\"\nEOF\nkeep $UID\nRAW\n",
            &[],
        );
        assert_eq!(
            stage.steps[1].instruction,
            Instruction::Copy(CopyArgs {
                sources: vec![CopySource::Path("app dir".into())],
                dest: "/srv/".into(),
                from: Some("app-build".into()),
                chown: Some("1000:1000".into()),
                ..CopyArgs::default()
            })
        );
        assert_eq!(
            stage.steps[2].instruction,
            Instruction::Expose(vec!["8080".into(), "8080/udp".into()])
        );
        assert_eq!(
            stage.steps[3].instruction,
            Instruction::Volume(vec!["/srv/data".into()])
        );
        assert_eq!(
            stage.steps[4].instruction,
            Instruction::Label(vec![KeyValue {
                key: "who".into(),
                value: "1000 x".into()
            }])
        );
        assert_eq!(
            stage.steps[5].instruction,
            Instruction::StopSignal("SIGTERM".into())
        );
        let Instruction::Copy(copy) = &stage.steps[6].instruction else {
            panic!()
        };
        let contents: Vec<_> = copy
            .sources
            .iter()
            .map(|s| match s {
                CopySource::Heredoc(h) => h.content.as_str(),
                CopySource::Path(p) => p.as_str(),
            })
            .collect();
        assert_eq!(contents, vec!["uid 1000 \"q\"\n", "keep $UID\n"]);
    }

    #[test]
    fn base_env_takes_part_in_substitution() {
        let df = parse("FROM node\nWORKDIR $HOME/app\n").unwrap();
        let base = vec![("HOME".to_string(), "/root".to_string())];
        let stage = expand_stage(&df, &df.stages[0], &BuildOptions::host(), &base).unwrap();
        assert_eq!(workdirs(&stage), vec!["/root/app"]);
    }

    #[test]
    fn expansion_errors_name_the_line() {
        let df = parse("FROM a\nENV A=1\nWORKDIR ${A\n").unwrap();
        let err = expand_stage(&df, &df.stages[0], &BuildOptions::host(), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile line 3: failed to process \"${A\": syntax error: missing '}'"
        );
        let df = parse("ARG TAG\nFROM $TAG\n").unwrap();
        let err = expand_stage(&df, &df.stages[0], &BuildOptions::host(), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile line 2: FROM $TAG expands to an empty image name (is the ARG declared before FROM and given a value?)"
        );
    }

    #[test]
    fn later_stages_inherit_env_from_earlier_stages() {
        let df = parse(
            "FROM node AS deps\nENV APP=/app\nFROM deps AS build\nWORKDIR $APP/$HOME\nFROM nginx\nWORKDIR $APP/$HOME\n",
        )
        .unwrap();
        let mut asked = Vec::new();
        let stages = expand_stages(&df, &BuildOptions::host(), |from| {
            asked.push(from.base.clone());
            vec![("HOME".to_string(), format!("/home-{}", from.base))]
        })
        .unwrap();
        assert_eq!(asked, vec!["node", "nginx"]);
        assert_eq!(workdirs(&stages[1]), vec!["/app//home-node"]);
        assert_eq!(workdirs(&stages[2]), vec!["//home-nginx"]);
    }

    #[test]
    fn required_stages_follow_from_copy_and_mounts() {
        let df = parse(
            "FROM alpine AS tools\nFROM node AS deps\nFROM deps AS build\nARG SRC=tools\nCOPY --from=$SRC /bin/x /x\nFROM alpine AS unused\nFROM nginx\nRUN --mount=type=bind,from=build,target=/b cp -r /b /srv\nCOPY --from=nginx:alpine /etc/nginx /etc/nginx\n",
        )
        .unwrap();
        let stages = expand_stages(&df, &BuildOptions::host(), |_| Vec::new()).unwrap();
        assert_eq!(required_stages(&df, &stages, 4), vec![0, 1, 2, 4]);
        assert_eq!(required_stages(&df, &stages, 3), vec![3]);
        assert_eq!(required_stages(&df, &stages, 9), Vec::<usize>::new());
    }

    /// Random Dockerfile-ish text must produce a result or an error, never a panic.
    #[test]
    fn random_input_never_panics() {
        const ALPHABET: &[&str] = &[
            "FROM ",
            "RUN ",
            "COPY ",
            "ENV ",
            "ARG ",
            "EXPOSE ",
            "ONBUILD ",
            "HEALTHCHECK ",
            "LABEL ",
            "WORKDIR ",
            "CMD ",
            "AS ",
            "a",
            "b=",
            "$",
            "${",
            "}",
            ":-",
            ":+",
            "#",
            "%",
            "/",
            "?",
            "'",
            "\"",
            "\\",
            "`",
            "\n",
            " ",
            "\t",
            "<<",
            "-",
            "EOF",
            "[",
            "]",
            ",",
            "--from=",
            "--mount=",
            "é",
            "0",
            "=",
            "*",
        ];
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..2000 {
            let len = (next() % 40) as usize;
            let mut text = String::from("FROM a\n");
            for _ in 0..len {
                text.push_str(ALPHABET[(next() % ALPHABET.len() as u64) as usize]);
            }
            if let Ok(df) = parse(&text) {
                let options = BuildOptions::host();
                if let Ok(stages) = expand_stages(&df, &options, |_| Vec::new()) {
                    let _ = required_stages(&df, &stages, stages.len().saturating_sub(1));
                }
            }
            let _ = Lexer::new('\\').process_words(&text, &Vars::new());
        }
    }

    #[test]
    fn unused_build_args_are_reported() {
        let df = parse("ARG A\nFROM x\nARG B=1\n").unwrap();
        let mut options = BuildOptions::host();
        options.build_args = vars(&[("A", "1"), ("B", "2"), ("C", "3"), ("no_proxy", "x")]);
        assert_eq!(unused_build_args(&df, &options), vec!["C"]);
    }

    #[test]
    fn global_args_chain_and_stage_references_resolve() {
        let df = parse(
            "ARG REG=docker.io\nARG IMG=$REG/library/node\nFROM $IMG AS Build\nFROM build\nCOPY --from=0 /a /b\n",
        )
        .unwrap();
        let globals = global_args(&df, &BuildOptions::host()).unwrap();
        assert_eq!(
            globals.get("IMG").map(String::as_str),
            Some("docker.io/library/node")
        );
        assert_eq!(stage_index(&df, "BUILD", 1), Some(0));
        assert_eq!(stage_index(&df, "build", 0), None);
        assert_eq!(stage_index(&df, "0", 1), Some(0));
        assert_eq!(stage_index(&df, "1", 1), None);
        assert_eq!(stage_index(&df, "alpine", 2), None);
    }
}
