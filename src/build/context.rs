//! Build contexts: a directory packed into the deterministic, uncompressed tar a builder
//! reads, with `.dockerignore` applied exactly as Docker applies it.
//!
//! Ignore rules follow moby's `patternmatcher` and `ignorefile` packages (what `docker
//! build` and BuildKit use): `*` and `?` never cross `/`, `**` crosses any number of
//! directories, `[...]` classes and `\` escapes as in Go's `filepath.Match`, `!` re-includes,
//! the last matching pattern wins, a pattern matching a directory ignores everything below
//! it, and patterns are cleaned (`./`, leading `/`, `//`, `..` resolved lexically).
//! `<Dockerfile>.dockerignore` next to the Dockerfile takes precedence over the context's
//! `.dockerignore`; the Dockerfile and `.dockerignore` are always sent, as `docker build`
//! does.
//!
//! A git context (`https://…/repo.git#ref:subdir` and Docker's other spellings) is fetched
//! by [`super::git`] and its checkout packed the same way. Not for: other URL contexts
//! (tarballs), refused; nor reading the Dockerfile (the native builder parses what this
//! module packs).

use std::fmt;
use std::fs;
use std::io;
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;
use regex::Regex;
use sha2::{Digest, Sha256};

/// A packed build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildContext {
    /// The uncompressed tar of the context.
    pub tar: Bytes,
    /// Path of the Dockerfile inside the tar (`/`-separated, relative), to pass to the
    /// builder as its `dockerfile`.
    pub dockerfile: String,
}

/// Why a build context could not be packed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextError {
    /// The context directory is missing or not a directory.
    NotADirectory { path: PathBuf },
    /// The Dockerfile cannot be read.
    Dockerfile { path: PathBuf, message: String },
    /// A `.dockerignore` line is not a valid pattern.
    Pattern {
        file: PathBuf,
        pattern: String,
        message: String,
    },
    /// A file or directory of the context cannot be read.
    Read { path: PathBuf, message: String },
    /// A URL context that is not a git repository (a tarball, a plain file).
    Remote { context: String },
    /// A git context that could not be fetched.
    Git { context: String, message: String },
}

impl fmt::Display for ContextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContextError::NotADirectory { path } => write!(
                f,
                "build context {} is not a directory; fix `build.context`",
                path.display()
            ),
            ContextError::Dockerfile { path, message } => write!(
                f,
                "cannot read Dockerfile {}: {message}; fix `build.dockerfile`",
                path.display()
            ),
            ContextError::Pattern {
                file,
                pattern,
                message,
            } => write!(f, "{}: pattern \"{pattern}\": {message}", file.display()),
            ContextError::Remote { context } => write!(
                f,
                "build context \"{context}\" is a URL but not a git repository; hoist \
                 fetches git repositories (…/repo.git#ref:subdir) and packs local \
                 directories: download it and point the context at the directory"
            ),
            ContextError::Git { context, message } => {
                write!(f, "git build context \"{context}\": {message}")
            }
            ContextError::Read { path, message } => write!(
                f,
                "cannot read {} for the build context: {message}; fix its permissions or \
                 list it in .dockerignore",
                path.display()
            ),
        }
    }
}

impl std::error::Error for ContextError {}

/// A pattern that is not valid `.dockerignore` syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub pattern: String,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pattern \"{}\": {}", self.pattern, self.message)
    }
}

impl std::error::Error for PatternError {}

// ---------------------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------------------

/// How one pattern is matched; the cheap kinds avoid a regex, as moby does.
#[derive(Debug, Clone)]
enum Matcher {
    Exact(String),
    /// The pattern minus its trailing `**`.
    Prefix(String),
    /// The pattern minus its leading `**`.
    Suffix(String),
    Regex(Regex),
}

#[derive(Debug, Clone)]
struct Pattern {
    /// Cleaned, without the leading `!`.
    text: String,
    exclusion: bool,
    matcher: Matcher,
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact(p) => path == p,
            Matcher::Prefix(p) => path.starts_with(p.as_str()),
            Matcher::Suffix(s) => {
                path.ends_with(s.as_str()) || s.strip_prefix('/').is_some_and(|s| path == s)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }
}

/// A parsed ignore list: which context paths `docker build` leaves out.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore` file: one pattern a line, `#` comment lines,
    /// surrounding whitespace trimmed, a UTF-8 BOM skipped.
    pub fn parse(contents: &str) -> Result<Self, PatternError> {
        DockerIgnore::new(read_ignore_lines(contents))
    }

    /// Builds a matcher from patterns as given (moby's `patternmatcher.New`).
    pub fn new<I, S>(patterns: I) -> Result<Self, PatternError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = Vec::new();
        for raw in patterns {
            let raw = raw.as_ref();
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                continue;
            }
            let cleaned = clean(trimmed);
            let (exclusion, text) = match cleaned.strip_prefix('!') {
                Some("") => {
                    return Err(PatternError {
                        pattern: raw.to_owned(),
                        message: "a lone \"!\" excludes nothing; remove it or add a path"
                            .to_owned(),
                    })
                }
                Some(rest) => (true, rest.to_owned()),
                None => (false, cleaned),
            };
            check_syntax(&text).map_err(|message| PatternError {
                pattern: raw.to_owned(),
                message,
            })?;
            let matcher = compile(&text).map_err(|message| PatternError {
                pattern: raw.to_owned(),
                message,
            })?;
            out.push(Pattern {
                text,
                exclusion,
                matcher,
            });
        }
        Ok(DockerIgnore { patterns: out })
    }

    /// Reads the ignore file that applies to a build: `<dockerfile>.dockerignore` when it
    /// exists, else `<context>/.dockerignore`, else none. `dockerfile` is the Dockerfile's
    /// path on disk.
    pub fn for_build(context_dir: &Path, dockerfile: Option<&Path>) -> Result<Self, ContextError> {
        let mut candidates = Vec::new();
        if let Some(df) = dockerfile {
            let mut name = df.as_os_str().to_owned();
            name.push(".dockerignore");
            candidates.push(PathBuf::from(name));
        }
        candidates.push(context_dir.join(".dockerignore"));
        for file in candidates {
            match fs::read(&file) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    return DockerIgnore::parse(&text).map_err(|e| ContextError::Pattern {
                        file,
                        pattern: e.pattern,
                        message: e.message,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => {
                    return Err(ContextError::Read {
                        path: file,
                        message: e.to_string(),
                    })
                }
            }
        }
        Ok(DockerIgnore::default())
    }

    /// True when no pattern is present.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any `!` pattern exists (it may re-include something below an ignored
    /// directory).
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether `path` (relative to the context, `/`-separated) is left out of the context:
    /// the last pattern matching it or one of its parent directories decides. The context
    /// root itself is never ignored.
    pub fn is_ignored(&self, path: &str) -> bool {
        let path = clean(path.trim_start_matches('/'));
        if path == "." {
            return false;
        }
        self.matches_or_parent_matches(&path)
    }

    /// Whether walking into ignored directory `dir` may still find re-included paths:
    /// true when a `!` pattern starts with `dir/` (moby's rule, so `!**/*.go` does not
    /// reach into an ignored directory either).
    pub fn may_reinclude_under(&self, dir: &str) -> bool {
        let dir_slash = format!("{}/", clean(dir));
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| format!("{}/", p.text).starts_with(&dir_slash))
    }

    /// Adds `!path` unless `path` is already kept (moby's `TrimBuildFilesFromExcludes`).
    fn keep(&mut self, path: &str) {
        if !self.is_ignored(path) {
            return;
        }
        let text = clean(path);
        if let Ok(matcher) = compile(&escape_pattern(&text)) {
            self.patterns.push(Pattern {
                text,
                exclusion: true,
                matcher,
            });
        }
    }

    /// moby's `MatchesOrParentMatches` on an uncleaned path.
    fn matches_or_parent_matches(&self, file: &str) -> bool {
        let parent = go_dir(file);
        let parent_dirs: Vec<&str> = parent.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            // An inclusion cannot change an already ignored path, nor an exclusion a kept one.
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(file);
            if !m && parent != "." {
                m = (1..=parent_dirs.len()).any(|i| p.matches(&parent_dirs[..i].join("/")));
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    #[cfg(test)]
    fn matches_exact(&self, file: &str) -> bool {
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            if p.matches(file) {
                matched = !p.exclusion;
            }
        }
        matched
    }
}

/// moby's `ignorefile.ReadAll`: the pattern lines of an ignore file.
fn read_ignore_lines(contents: &str) -> Vec<String> {
    let contents = contents.strip_prefix('\u{feff}').unwrap_or(contents);
    let mut out = Vec::new();
    for line in contents.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut pattern = line.trim();
        if pattern.is_empty() {
            continue;
        }
        let invert = pattern.starts_with('!');
        if invert {
            pattern = pattern[1..].trim();
        }
        let mut cleaned = String::new();
        if !pattern.is_empty() {
            cleaned = clean(pattern);
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
        }
        out.push(if invert {
            format!("!{cleaned}")
        } else {
            cleaned
        });
    }
    out
}

/// Go's `path.Clean`: lexical `.`/`..`/`//` resolution; `""` becomes `.`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".to_owned();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ if rooted => {}
                _ => parts.push(".."),
            },
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    if rooted {
        format!("/{joined}")
    } else if joined.is_empty() {
        ".".to_owned()
    } else {
        joined
    }
}

/// Go's `filepath.Match` of one path segment (a name without `/`) against `pattern`: the
/// wildcards of a `COPY`/`ADD` source, which never cross a `/`.
pub fn segment_matches(pattern: &str, name: &str) -> Result<bool, PatternError> {
    let matcher = compile(pattern).map_err(|message| PatternError {
        pattern: pattern.to_string(),
        message,
    })?;
    let pattern = Pattern {
        text: pattern.to_string(),
        exclusion: false,
        matcher,
    };
    Ok(pattern.matches(name))
}

/// Go's `filepath.Dir` for `/`-separated paths.
fn go_dir(p: &str) -> String {
    match p.rfind('/') {
        Some(i) => clean(&p[..=i]),
        None => ".".to_owned(),
    }
}

/// A literal path as a pattern matching only itself.
fn escape_pattern(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for c in p.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The syntax check of Go's `filepath.Match`: a trailing `\`, an unclosed `[`, an empty
/// class, or a `-`/`]` where a class member is expected is an error.
fn check_syntax(p: &str) -> Result<(), String> {
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err("a trailing \\ escapes nothing".to_owned());
                }
                i += 2;
            }
            '[' => i = parse_class(&chars, i + 1)?.0,
            _ => i += 1,
        }
    }
    Ok(())
}

/// A `[...]` class: `(index after ']', negated, members as (lo, hi))`. `start` is the index
/// after `[`.
#[allow(clippy::type_complexity)]
fn parse_class(chars: &[char], start: usize) -> Result<(usize, bool, Vec<(char, char)>), String> {
    let bad = || "malformed character class [...]".to_owned();
    let member = |i: usize| -> Result<(char, usize), String> {
        match chars.get(i) {
            None | Some('-') | Some(']') => Err(bad()),
            Some('\\') => chars.get(i + 1).map(|&c| (c, i + 2)).ok_or_else(bad),
            Some(&c) => Ok((c, i + 1)),
        }
    };
    let mut i = start;
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut members = Vec::new();
    loop {
        if chars.get(i) == Some(&']') && !members.is_empty() {
            return Ok((i + 1, negated, members));
        }
        let (lo, next) = member(i)?;
        i = next;
        let mut hi = lo;
        if chars.get(i) == Some(&'-') {
            let (h, next) = member(i + 1)?;
            hi = h;
            i = next;
        }
        members.push((lo, hi));
    }
}

/// moby's `Pattern.compile` for `/` separators. Classes are translated member by member,
/// so they mean what Go's `filepath.Match` says they mean.
fn compile(p: &str) -> Result<Matcher, String> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = p.chars().collect();
    let mut re = String::from("(?s)^");
    let mut kind = Kind::Exact;
    let mut i = 0;
    let mut iteration = 0;
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        match ch {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                // `**/` is `**`.
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if iteration == 0 {
                    kind = Kind::Suffix;
                }
            }
            '*' => {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
            '?' => {
                re.push_str("[^/]");
                kind = Kind::Regex;
            }
            '\\' => match chars.get(i) {
                Some(&next) => {
                    i += 1;
                    re.push_str(&regex::escape(&next.to_string()));
                    kind = Kind::Regex;
                }
                None => re.push_str(r"\\"),
            },
            '[' => {
                let (next, negated, members) = parse_class(&chars, i)?;
                i = next;
                re.push('[');
                if negated {
                    re.push('^');
                }
                for (lo, hi) in members {
                    re.push_str(&regex::escape(&lo.to_string()));
                    if hi != lo {
                        re.push('-');
                        re.push_str(&regex::escape(&hi.to_string()));
                    }
                }
                re.push(']');
                kind = Kind::Regex;
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
        iteration += 1;
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact(p.to_owned()),
        Kind::Prefix => Matcher::Prefix(p[..p.len() - 2].to_owned()),
        Kind::Suffix => Matcher::Suffix(p[2..].to_owned()),
        Kind::Regex => {
            re.push('$');
            Matcher::Regex(Regex::new(&re).map_err(|e| format!("invalid pattern: {e}"))?)
        }
    })
}

// ---------------------------------------------------------------------------------------
// The tar
// ---------------------------------------------------------------------------------------

/// Packs `context_dir` into a build context tar.
///
/// `dockerfile` is relative to the context (or absolute), `Dockerfile` when `None`. A
/// Dockerfile outside the context is added under `.dockerfile.<content hash>`. With
/// `dockerfile_inline`, its text is added as `Dockerfile` (or under a hashed name when the
/// context has its own `Dockerfile`) and `dockerfile` is ignored. The returned
/// [`BuildContext::dockerfile`] says where the builder finds it.
///
/// Entries are sorted by path; modes and mtimes are kept, owners are 0:0 without names, and
/// symlinks stay symlinks, so the same tree always gives the same bytes.
pub fn context_tar(
    context_dir: &Path,
    dockerfile: Option<&str>,
    dockerfile_inline: Option<&str>,
) -> Result<BuildContext, ContextError> {
    if !context_dir.is_dir() {
        return Err(ContextError::NotADirectory {
            path: context_dir.to_path_buf(),
        });
    }
    let context_dir = lexical_absolute(context_dir);

    // Where the Dockerfile is: inside the context (its relative path) or outside (its content).
    let dockerfile_on_disk = match dockerfile_inline {
        Some(_) => None,
        None => Some(lexical_absolute(
            &context_dir.join(dockerfile.unwrap_or("Dockerfile")),
        )),
    };
    let inside_path = dockerfile_on_disk
        .as_ref()
        .and_then(|df| relative_inside(&context_dir, df));
    if let Some(df) = &dockerfile_on_disk {
        // Fail here with the path rather than later with the builder's vaguer message.
        if !df.is_file() {
            return Err(ContextError::Dockerfile {
                path: df.clone(),
                message: "no such file".to_owned(),
            });
        }
    }

    let mut ignore = DockerIgnore::for_build(&context_dir, dockerfile_on_disk.as_deref())?;
    ignore.keep(".dockerignore");
    if let Some(rel) = &inside_path {
        ignore.keep(rel);
    }

    let mut builder = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    walk(&context_dir, "", &ignore, &mut builder, &mut names)?;

    // A Dockerfile that is not a file of the context is added under a hashed name that
    // `.dockerignore` lists, so the builder reads it and `COPY . .` does not see it.
    let mut hidden: Option<(String, Vec<u8>, u32, u64)> = None;
    let dockerfile_in_tar = match (dockerfile_inline, &dockerfile_on_disk, inside_path) {
        (Some(text), _, _) => {
            let name = if names.iter().any(|n| n == "Dockerfile") {
                hashed_name(text.as_bytes())
            } else {
                "Dockerfile".to_owned()
            };
            hidden = Some((name.clone(), text.as_bytes().to_vec(), 0o644, 0));
            name
        }
        (None, _, Some(rel)) => rel,
        (None, Some(df), None) => {
            let meta = fs::metadata(df).map_err(|e| ContextError::Dockerfile {
                path: df.clone(),
                message: e.to_string(),
            })?;
            let content = fs::read(df).map_err(|e| ContextError::Dockerfile {
                path: df.clone(),
                message: e.to_string(),
            })?;
            let name = hashed_name(&content);
            hidden = Some((name.clone(), content, file_mode(&meta), mtime(&meta)));
            name
        }
        (None, None, None) => "Dockerfile".to_owned(),
    };

    let mut tar = builder.into_inner().map_err(|e| ContextError::Read {
        path: context_dir.clone(),
        message: e.to_string(),
    })?;
    if let Some((name, content, mode, mtime)) = hidden {
        tar = add_hidden_file(&tar, &name, &content, mode, mtime).map_err(|e| {
            ContextError::Read {
                path: context_dir.clone(),
                message: e.to_string(),
            }
        })?;
    }
    Ok(BuildContext {
        tar: Bytes::from(tar),
        dockerfile: dockerfile_in_tar,
    })
}

/// `tar` with the file `name` added and listed in its `.dockerignore` (one is added, ignoring
/// itself, when there is none), which is how `docker build` sends a Dockerfile that is not
/// part of the context: builders read the Dockerfile, then drop the Dockerfile and
/// `.dockerignore` when `.dockerignore` lists them, so `COPY . .` never copies it (see
/// [`remove_build_files`]).
pub fn add_hidden_file(
    tar: &[u8],
    name: &str,
    content: &[u8],
    mode: u32,
    mtime: u64,
) -> io::Result<Vec<u8>> {
    let mut out = tar::Builder::new(Vec::new());
    let mut ignore: Option<(tar::Header, Vec<u8>)> = None;
    for entry in tar::Archive::new(tar).entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let path = path.trim_start_matches("./");
        if path == name {
            continue;
        }
        let mut data = Vec::new();
        io::Read::read_to_end(&mut entry, &mut data)?;
        if path == ".dockerignore" {
            ignore = Some((entry.header().clone(), data));
            continue;
        }
        let mut header = entry.header().clone();
        match entry.link_name()? {
            Some(target) => out.append_link(&mut header, path, target)?,
            None => out.append_data(&mut header, path, &data[..])?,
        }
    }
    let (mut ignore_header, mut list) = ignore.unwrap_or_else(|| {
        (
            header(tar::EntryType::Regular, 0o644, mtime, 0),
            b".dockerignore".to_vec(),
        )
    });
    list.extend_from_slice(format!("\n{name}\n").as_bytes());
    ignore_header.set_size(list.len() as u64);
    out.append_data(&mut ignore_header, ".dockerignore", &list[..])?;
    let mut h = header(tar::EntryType::Regular, mode, mtime, content.len() as u64);
    out.append_data(&mut h, name, content)?;
    out.into_inner()
}

/// What a builder does with an unpacked context once it has read the Dockerfile, as the
/// Docker engine does: `.dockerignore` and the Dockerfile are removed when `.dockerignore`
/// lists them (they are always sent so the builder can read them).
pub fn remove_build_files(context_dir: &Path, dockerfile: &str) -> io::Result<()> {
    let text = match fs::read_to_string(context_dir.join(".dockerignore")) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let Ok(ignore) = DockerIgnore::parse(&text) else {
        return Ok(());
    };
    for file in [dockerfile, ".dockerignore"] {
        if ignore.is_ignored(file) {
            match fs::remove_file(context_dir.join(file)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
    }
    Ok(())
}

/// Packs a named build context (compose `additional_contexts`) the way the main context is
/// packed, with the directory's own `.dockerignore` (never a Dockerfile's).
pub fn named_context_tar(dir: &Path) -> Result<Bytes, ContextError> {
    if !dir.is_dir() {
        return Err(ContextError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let dir = lexical_absolute(dir);
    let ignore = DockerIgnore::for_build(&dir, None)?;
    let mut builder = tar::Builder::new(Vec::new());
    walk(&dir, "", &ignore, &mut builder, &mut Vec::new())?;
    let tar = builder.into_inner().map_err(|e| ContextError::Read {
        path: dir.clone(),
        message: e.to_string(),
    })?;
    Ok(Bytes::from(tar))
}

/// Packs the context of a service's normalized `build:` section (absolute `context`,
/// `dockerfile` relative to it or absolute, or `dockerfile_inline`).
pub fn for_build_config(
    build: &crate::compose::model::BuildConfig,
) -> Result<BuildContext, ContextError> {
    let ctx = build.context.as_str();
    if let Some(git) = super::git::parse(ctx) {
        let checkout = super::git::fetch(&git).map_err(|message| ContextError::Git {
            context: super::git::redacted(ctx),
            message,
        })?;
        return context_tar(
            checkout.root(),
            build.dockerfile.as_deref(),
            build.dockerfile_inline.as_deref(),
        );
    }
    let remote = [
        "http://",
        "https://",
        "git://",
        "git@",
        "github.com/",
        "ssh://",
    ]
    .iter()
    .any(|p| ctx.starts_with(p))
        || ctx.contains(".git#")
        || ctx.ends_with(".git");
    if remote {
        return Err(ContextError::Remote {
            context: ctx.to_owned(),
        });
    }
    let dir = if ctx.is_empty() { "." } else { ctx };
    context_tar(
        Path::new(dir),
        build.dockerfile.as_deref(),
        build.dockerfile_inline.as_deref(),
    )
}

/// `.dockerfile.<first 20 hex of sha256>`: unique per content, and stable across runs.
fn hashed_name(content: &[u8]) -> String {
    let hex: String = Sha256::digest(content)
        .iter()
        .take(10)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!(".dockerfile.{hex}")
}

/// `path` made absolute against the current directory and cleaned, without touching the
/// file system (symlinks are not resolved, as `docker build` does not resolve them).
fn lexical_absolute(path: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|d| d.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `path` relative to `dir` with `/` separators, when it lies inside it.
fn relative_inside(dir: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(dir).ok()?;
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.is_empty() {
        return None;
    }
    Some(parts.join("/"))
}

fn read_error(path: &Path, e: io::Error) -> ContextError {
    ContextError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

fn file_mode(meta: &fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

fn mtime(meta: &fs::Metadata) -> u64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn header(kind: tar::EntryType, mode: u32, mtime: u64, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(mtime);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn append_bytes(
    builder: &mut tar::Builder<Vec<u8>>,
    name: &str,
    content: &[u8],
    mode: u32,
    mtime: u64,
    source: &Path,
) -> Result<(), ContextError> {
    let mut h = header(tar::EntryType::Regular, mode, mtime, content.len() as u64);
    builder
        .append_data(&mut h, name, content)
        .map_err(|e| read_error(source, e))
}

/// Adds the entries under `dir` (context-relative `rel`, `""` for the root) in name order.
fn walk(
    dir: &Path,
    rel: &str,
    ignore: &DockerIgnore,
    builder: &mut tar::Builder<Vec<u8>>,
    names: &mut Vec<String>,
) -> Result<(), ContextError> {
    let mut entries: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .map_err(|e| read_error(dir, e))?
        .map(|entry| {
            entry
                .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
                .map_err(|e| read_error(dir, e))
        })
        .collect::<Result<_, _>>()?;
    entries.sort();
    for (name, path) in entries {
        let rel_path = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let meta = fs::symlink_metadata(&path).map_err(|e| read_error(&path, e))?;
        let ignored = ignore.is_ignored(&rel_path);
        if ignored {
            // An ignored directory is still walked when a `!` pattern may re-include
            // something below it; the directory entry itself stays out.
            if meta.is_dir() && ignore.may_reinclude_under(&rel_path) {
                walk(&path, &rel_path, ignore, builder, names)?;
            }
            continue;
        }
        let mode = file_mode(&meta);
        let time = mtime(&meta);
        let file_type = meta.file_type();
        if file_type.is_symlink() {
            let target = fs::read_link(&path).map_err(|e| read_error(&path, e))?;
            let mut h = header(tar::EntryType::Symlink, mode, time, 0);
            builder
                .append_link(&mut h, &rel_path, &target)
                .map_err(|e| read_error(&path, e))?;
        } else if file_type.is_dir() {
            let mut h = header(tar::EntryType::Directory, mode, time, 0);
            builder
                .append_data(&mut h, format!("{rel_path}/"), io::empty())
                .map_err(|e| read_error(&path, e))?;
            names.push(rel_path.clone());
            walk(&path, &rel_path, ignore, builder, names)?;
            continue;
        } else if file_type.is_file() {
            let content = fs::read(&path).map_err(|e| read_error(&path, e))?;
            append_bytes(builder, &rel_path, &content, mode, time, &path)?;
        } else {
            // Sockets, FIFOs and devices cannot be meaningfully sent to a builder.
            continue;
        }
        names.push(rel_path);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// moby patternmatcher_test.go `TestMatches`: (pattern, text, exact match, match
    /// counting parent directories).
    const MATCHES: &[(&str, &str, bool, bool)] = &[
        ("**", "file", true, true),
        ("**", "file/", true, true),
        ("**/", "file", true, true),
        ("**/", "file/", true, true),
        ("**", "/", true, true),
        ("**/", "/", true, true),
        ("**", "dir/file", true, true),
        ("**/", "dir/file", true, true),
        ("**", "dir/file/", true, true),
        ("**/", "dir/file/", true, true),
        ("**/**", "dir/file", true, true),
        ("**/**", "dir/file/", true, true),
        ("dir/**", "dir/file", true, true),
        ("dir/**", "dir/file/", true, true),
        ("dir/**", "dir/dir2/file", true, true),
        ("dir/**", "dir/dir2/file/", true, true),
        ("**/dir", "dir", true, true),
        ("**/dir", "dir/file", false, true),
        ("**/dir2/*", "dir/dir2/file", true, true),
        ("**/dir2/*", "dir/dir2/file/", false, true),
        ("**/dir2/**", "dir/dir2/dir3/file", true, true),
        ("**/dir2/**", "dir/dir2/dir3/file/", true, true),
        ("**file", "file", true, true),
        ("**file", "dir/file", true, true),
        ("**/file", "dir/file", true, true),
        ("**file", "dir/dir/file", true, true),
        ("**/file", "dir/dir/file", true, true),
        ("**/file*", "dir/dir/file", true, true),
        ("**/file*", "dir/dir/file.txt", true, true),
        ("**/file*txt", "dir/dir/file.txt", true, true),
        ("**/file*.txt", "dir/dir/file.txt", true, true),
        ("**/file*.txt*", "dir/dir/file.txt", true, true),
        ("**/**/*.txt", "dir/dir/file.txt", true, true),
        ("**/**/*.txt2", "dir/dir/file.txt", false, false),
        ("**/*.txt", "file.txt", true, true),
        ("**/**/*.txt", "file.txt", true, true),
        ("a**/*.txt", "a/file.txt", true, true),
        ("a**/*.txt", "a/dir/file.txt", true, true),
        ("a**/*.txt", "a/dir/dir/file.txt", true, true),
        ("a/*.txt", "a/dir/file.txt", false, false),
        ("a/*.txt", "a/file.txt", true, true),
        ("a/*.txt**", "a/file.txt", true, true),
        ("a[b-d]e", "ae", false, false),
        ("a[b-d]e", "ace", true, true),
        ("a[b-d]e", "aae", false, false),
        ("a[^b-d]e", "aze", true, true),
        (".*", ".foo", true, true),
        (".*", "foo", false, false),
        ("abc.def", "abcdef", false, false),
        ("abc.def", "abc.def", true, true),
        ("abc.def", "abcZdef", false, false),
        ("abc?def", "abcZdef", true, true),
        ("abc?def", "abcdef", false, false),
        ("**/foo/bar", "foo/bar", true, true),
        ("**/foo/bar", "dir/foo/bar", true, true),
        ("**/foo/bar", "dir/dir2/foo/bar", true, true),
        ("abc/**", "abc", false, false),
        ("abc/**", "abc/def", true, true),
        ("abc/**", "abc/def/ghi", true, true),
        ("**/.foo", ".foo", true, true),
        ("**/.foo", "bar.foo", false, false),
        ("a(b)c/def", "a(b)c/def", true, true),
        ("a(b)c/def", "a(b)c/xyz", false, false),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", true, true),
        (
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
            true,
        ),
        (
            "dist/*.whl",
            "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
            true,
            true,
        ),
        ("a\\\\", "a\\", true, true),
        ("a\\*b", "a*b", true, true),
    ];

    #[test]
    fn moby_pattern_table_matches_exactly_and_with_parents() {
        for &(pattern, text, exact, with_parents) in MATCHES {
            let pm = DockerIgnore::new([pattern]).unwrap();
            assert_eq!(pm.matches_exact(text), exact, "exact {pattern:?} {text:?}");
            assert_eq!(
                pm.matches_or_parent_matches(text),
                with_parents,
                "parents {pattern:?} {text:?}"
            );
        }
    }

    #[test]
    fn moby_multi_pattern_table() {
        let whl = "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl";
        let cases: &[(&[&str], &str, bool)] = &[
            (&["**", "!util/docker/web"], "util/docker/web/foo", false),
            (
                &["**", "!util/docker/web", "util/docker/web/foo"],
                "util/docker/web/foo",
                true,
            ),
            (&["**", &format!("!{whl}")], whl, false),
            (&["**", "!dist/*.whl"], whl, false),
        ];
        for (patterns, text, want) in cases {
            let pm = DockerIgnore::new(patterns.iter()).unwrap();
            assert_eq!(pm.is_ignored(text), *want, "{patterns:?} {text:?}");
        }
    }

    #[test]
    fn exceptions_and_last_match_wins() {
        let ig = |p: &[&str], f: &str| DockerIgnore::new(p).unwrap().is_ignored(f);
        assert!(ig(&["*"], "fileutils.go"));
        assert!(ig(&["*.go"], "fileutils.go"));
        assert!(ig(&["!fileutils.go", "*.go"], "fileutils.go"));
        assert!(!ig(&["*.go", "!fileutils.go"], "fileutils.go"));
        assert!(!ig(&["docs", "!docs/README.md"], "docs/README.md"));
        assert!(!ig(&["docs/", "!docs/README.md"], "docs/README.md"));
        assert!(!ig(&["docs/*", "!docs/README.md"], "docs/README.md"));
        assert!(ig(&["docs/*", "!docs/README.md"], "docs/other.md"));
        assert!(!ig(&["*.go"], "."));
        assert!(!ig(&[], "/any/path/there"));
        // Cleaned patterns: `./`, `//` and `..` resolve lexically.
        assert!(ig(&["./a//b/../c"], "a/c"));
        assert!(ig(&["node_modules"], "node_modules/x/y.js"));
    }

    /// Go's filepath.Match table, as moby's `TestMatch` runs it through `Matches`.
    #[test]
    fn go_filepath_match_table() {
        let ok: &[(&str, &str, bool)] = &[
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "abc", true),
            ("a*", "ab/c", true),
            ("a*/b", "abc/b", true),
            ("a*/b", "a/c/b", false),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false),
            ("a*b?c*x", "abxbbxdbxebxczzx", true),
            ("a*b?c*x", "abxbbxdbxebxczzy", false),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abc", false),
            ("ab[^e-g]", "abc", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a[^a]b", "a☺b", true),
            ("a???b", "a☺b", false),
            ("a[^a][^a][^a]b", "a☺b", false),
            ("[a-ζ]*", "α", true),
            ("*[a-ζ]", "A", false),
            ("a?b", "a/b", false),
            ("a*b", "a/b", false),
            ("[\\]a]", "]", true),
            ("[\\-]", "-", true),
            ("[x\\-]", "x", true),
            ("[x\\-]", "-", true),
            ("[x\\-]", "z", false),
            ("[\\-x]", "x", true),
            ("[\\-x]", "-", true),
            ("[\\-x]", "a", false),
            ("*x", "xxx", true),
        ];
        for &(pattern, s, want) in ok {
            let pm = DockerIgnore::new([pattern]).unwrap();
            assert_eq!(pm.is_ignored(s), want, "{pattern:?} {s:?}");
        }
        for bad in [
            "[]a]",
            "[-]",
            "[x-]",
            "[-x]",
            "\\",
            "[a-b-c]",
            "[",
            "[^",
            "[^bc",
            "a[",
            "!",
            "[Local-Only]/",
        ] {
            assert!(
                DockerIgnore::new([bad]).is_err(),
                "{bad:?} should be rejected"
            );
        }
    }

    #[test]
    fn ignore_file_lines_follow_moby_ignorefile() {
        let content = "\u{feff}test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        assert_eq!(
            read_ignore_lines(content),
            vec![
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
        let e = DockerIgnore::parse("a\n!\n").unwrap_err();
        assert!(e.to_string().contains("lone \"!\""), "{e}");
    }

    // -- tar ------------------------------------------------------------------------------

    fn write(dir: &Path, rel: &str, content: &str) {
        let p = dir.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    fn entries(ctx: &BuildContext) -> Vec<String> {
        let mut a = tar::Archive::new(&ctx.tar[..]);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let path = e.path().unwrap().to_string_lossy().into_owned();
                let h = e.header();
                assert_eq!(h.uid().unwrap(), 0);
                assert_eq!(h.gid().unwrap(), 0);
                path
            })
            .collect()
    }

    fn content_of(ctx: &BuildContext, name: &str) -> String {
        let mut a = tar::Archive::new(&ctx.tar[..]);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if e.path().unwrap().to_string_lossy() == name {
                let mut s = String::new();
                io::Read::read_to_string(&mut e, &mut s).unwrap();
                return s;
            }
        }
        panic!("{name} not in the tar: {:?}", entries(ctx));
    }

    #[test]
    fn context_honours_dockerignore_with_exceptions_and_always_sends_build_files() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, ".dockerignore", "*\n!src\nsrc/**/*.log\n!keep/me.txt\n");
        write(d, "src/main.rs", "fn main() {}");
        write(d, "src/deep/debug.log", "x");
        write(d, "keep/me.txt", "kept");
        write(d, "keep/other.txt", "dropped");
        write(d, "secret.env", "X=1");
        let ctx = context_tar(d, None, None).unwrap();
        assert_eq!(ctx.dockerfile, "Dockerfile");
        assert_eq!(
            entries(&ctx),
            vec![
                ".dockerignore",
                "Dockerfile",
                "keep/me.txt",
                "src/",
                "src/deep/",
                "src/main.rs"
            ]
        );
    }

    #[test]
    fn ignored_directory_is_skipped_unless_an_exception_names_something_below_it() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "node_modules/a/index.js", "");
        write(d, "lib/a.go", "");
        write(d, "lib/b.txt", "");
        // `!**/*.go` names nothing starting with `lib/`: moby does not walk into `lib`.
        write(d, ".dockerignore", "node_modules\nlib\n!**/*.go\n");
        let ctx = context_tar(d, None, None).unwrap();
        assert_eq!(entries(&ctx), vec![".dockerignore", "Dockerfile"]);
    }

    #[test]
    fn dockerfile_specific_ignore_file_takes_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "docker/app.Dockerfile", "FROM scratch\n");
        write(d, "docker/app.Dockerfile.dockerignore", "*.md\ndocker\n");
        write(d, ".dockerignore", "*.txt\n");
        write(d, "a.md", "");
        write(d, "a.txt", "");
        let ctx = context_tar(d, Some("docker/app.Dockerfile"), None).unwrap();
        assert_eq!(ctx.dockerfile, "docker/app.Dockerfile");
        assert_eq!(
            entries(&ctx),
            vec![".dockerignore", "a.txt", "docker/app.Dockerfile"]
        );
    }

    #[test]
    fn dockerfile_outside_context_is_added_under_a_unique_name() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "app/main.py", "print()");
        write(d, "docker/Dockerfile", "FROM python\n");
        let ctx = context_tar(&d.join("app"), Some("../docker/Dockerfile"), None).unwrap();
        assert!(
            ctx.dockerfile.starts_with(".dockerfile."),
            "{}",
            ctx.dockerfile
        );
        assert_eq!(
            entries(&ctx),
            vec![
                "main.py".to_owned(),
                ".dockerignore".to_owned(),
                ctx.dockerfile.clone()
            ]
        );
        assert_eq!(content_of(&ctx, &ctx.dockerfile), "FROM python\n");
        // As `docker build` sends it: listed in `.dockerignore` (which ignores itself when
        // the context had none), so builders drop both after reading the Dockerfile.
        assert_eq!(
            content_of(&ctx, ".dockerignore"),
            format!(".dockerignore\n{}\n", ctx.dockerfile)
        );
        let unpacked = tempfile::tempdir().unwrap();
        tar::Archive::new(&ctx.tar[..])
            .unpack(unpacked.path())
            .unwrap();
        remove_build_files(unpacked.path(), &ctx.dockerfile).unwrap();
        let mut left: Vec<String> = fs::read_dir(unpacked.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left, vec!["main.py"]);
        // Absolute paths work too.
        let abs = d.join("docker/Dockerfile");
        let ctx2 = context_tar(&d.join("app"), abs.to_str(), None).unwrap();
        assert_eq!(ctx2.dockerfile, ctx.dockerfile);
    }

    #[test]
    fn inline_dockerfile_is_written_as_dockerfile() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "a.txt", "a");
        let ctx = context_tar(d, Some("ignored"), Some("FROM busybox\n")).unwrap();
        assert_eq!(ctx.dockerfile, "Dockerfile");
        assert_eq!(content_of(&ctx, "Dockerfile"), "FROM busybox\n");
        // A context with its own Dockerfile keeps it; the inline one gets a hashed name.
        write(d, "Dockerfile", "FROM other\n");
        let ctx = context_tar(d, None, Some("FROM busybox\n")).unwrap();
        assert!(ctx.dockerfile.starts_with(".dockerfile."));
        assert_eq!(content_of(&ctx, &ctx.dockerfile), "FROM busybox\n");
        assert_eq!(content_of(&ctx, "Dockerfile"), "FROM other\n");
    }

    #[test]
    fn tar_is_deterministic_and_keeps_modes_mtimes_and_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "Dockerfile", "FROM scratch\n");
        write(d, "run.sh", "#!/bin/sh\n");
        fs::set_permissions(d.join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("run.sh", d.join("link")).unwrap();
        write(d, "z/y/x.txt", "x");
        let a = context_tar(d, None, None).unwrap();
        let b = context_tar(d, None, None).unwrap();
        assert_eq!(a.tar, b.tar);
        let want_mtime = mtime(&fs::metadata(d.join("run.sh")).unwrap());
        let mut archive = tar::Archive::new(&a.tar[..]);
        let mut seen = 0;
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let h = e.header();
            match path.as_str() {
                "run.sh" => {
                    assert_eq!(h.mode().unwrap(), 0o755);
                    assert_eq!(h.mtime().unwrap(), want_mtime);
                    seen += 1;
                }
                "link" => {
                    assert_eq!(h.entry_type(), tar::EntryType::Symlink);
                    assert_eq!(e.link_name().unwrap().unwrap().to_str(), Some("run.sh"));
                    seen += 1;
                }
                _ => {}
            }
        }
        assert_eq!(seen, 2);
        assert_eq!(
            entries(&a),
            vec!["Dockerfile", "link", "run.sh", "z/", "z/y/", "z/y/x.txt"]
        );
    }

    #[test]
    fn build_config_contexts_local_and_remote() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        let build = crate::compose::model::BuildConfig {
            context: dir.path().to_string_lossy().into_owned(),
            dockerfile: Some("Dockerfile".into()),
            ..Default::default()
        };
        assert_eq!(for_build_config(&build).unwrap().dockerfile, "Dockerfile");
        let remote = crate::compose::model::BuildConfig {
            context: "https://example.com/context.tar.gz".into(),
            ..Default::default()
        };
        let e = for_build_config(&remote).unwrap_err();
        assert!(matches!(e, ContextError::Remote { .. }), "{e}");
    }

    #[test]
    fn context_errors_name_the_path() {
        let e = context_tar(Path::new("/nonexistent/ctx"), None, None).unwrap_err();
        assert!(
            e.to_string()
                .contains("/nonexistent/ctx is not a directory"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Dockerfile", "FROM scratch\n");
        write(dir.path(), ".dockerignore", "ok\n[\n");
        let e = context_tar(dir.path(), None, None).unwrap_err();
        assert!(e.to_string().contains("pattern \"[\""), "{e}");
        let e = context_tar(dir.path(), Some("../missing/Dockerfile"), None).unwrap_err();
        assert!(e.to_string().contains("cannot read Dockerfile"), "{e}");
        fs::remove_file(dir.path().join(".dockerignore")).unwrap();
        fs::remove_file(dir.path().join("Dockerfile")).unwrap();
        let e = context_tar(dir.path(), None, None).unwrap_err();
        assert!(e.to_string().contains("Dockerfile: no such file"), "{e}");
    }
}
