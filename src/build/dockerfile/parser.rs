//! Text to AST: directives, logical lines, heredocs, then one typed instruction per line.

use std::time::Duration;

use super::{
    ArgDecl, CommandLine, CopyArgs, CopySource, Directives, Dockerfile, DockerfileError, From,
    Healthcheck, Heredoc, Instruction, KeyValue, Run, Stage, Step,
};

const KEYWORDS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "ENTRYPOINT",
    "COPY",
    "ADD",
    "ENV",
    "ARG",
    "WORKDIR",
    "USER",
    "LABEL",
    "EXPOSE",
    "VOLUME",
    "HEALTHCHECK",
    "SHELL",
    "STOPSIGNAL",
    "ONBUILD",
    "MAINTAINER",
];

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, DockerfileError> {
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let (directives, first) = parse_directives(&lines)?;
    let logical = logical_lines(&lines, first, directives.escape)?;
    if logical.is_empty() {
        return Err(DockerfileError::new(
            0,
            "the file has no instructions (expected at least FROM)",
        ));
    }
    let mut args_before_from = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for logical in logical {
        let step = parse_step(&logical, directives.escape)?;
        match step.instruction {
            Instruction::From(from) => stages.push(Stage {
                name: from.name,
                base: from.image,
                platform: from.platform,
                line: step.line,
                instructions: Vec::new(),
            }),
            _ => match stages.last_mut() {
                Some(stage) => stage.instructions.push(step),
                None if matches!(step.instruction, Instruction::Arg(_)) => {
                    args_before_from.push(step)
                }
                None => {
                    return Err(DockerfileError::new(
                        step.line,
                        format!(
                            "{} before the first FROM: only ARG may come before FROM",
                            step.instruction.keyword()
                        ),
                    ))
                }
            },
        }
    }
    if stages.is_empty() {
        return Err(DockerfileError::new(
            0,
            "no FROM instruction: a Dockerfile needs at least one stage",
        ));
    }
    Ok(Dockerfile {
        directives,
        args_before_from,
        stages,
    })
}

/// Reads `# key=value` directives until the first line that is not one.
fn parse_directives(lines: &[&str]) -> Result<(Directives, usize), DockerfileError> {
    let mut directives = Directives::default();
    let mut seen: Vec<String> = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else {
            return Ok((directives, index));
        };
        if seen.contains(&key) {
            return Err(DockerfileError::new(
                index + 1,
                format!("only one {key} parser directive can be used"),
            ));
        }
        match key.as_str() {
            "escape" => {
                directives.escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    other => {
                        return Err(DockerfileError::new(
                            index + 1,
                            format!("invalid escape token '{other}' does not match ` or \\"),
                        ))
                    }
                }
            }
            "syntax" => directives.syntax = Some(value),
            "check" => directives.check = Some(value),
            // An unknown directive is a comment and ends the directive block.
            _ => return Ok((directives, index)),
        }
        seen.push(key);
    }
    Ok((directives, lines.len()))
}

fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim_start().strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.trim().to_string()))
}

/// An instruction's text with its continuations joined, and the heredocs after it.
struct Logical {
    line: usize,
    text: String,
    heredocs: Vec<Heredoc>,
}

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Strips a trailing escape character (and whitespace after it); true if one was there.
fn strip_continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest, true),
        None => (line, false),
    }
}

fn logical_lines(
    lines: &[&str],
    first: usize,
    escape: char,
) -> Result<Vec<Logical>, DockerfileError> {
    let mut out = Vec::new();
    let mut i = first;
    while i < lines.len() {
        let start = i;
        let line = lines[i].trim_start();
        i += 1;
        if line.trim().is_empty() || is_comment(line) {
            continue;
        }
        let (mut text, mut continued) = {
            let (t, c) = strip_continuation(line, escape);
            (t.to_string(), c)
        };
        while continued && i < lines.len() {
            let next = lines[i];
            i += 1;
            // Comment lines and empty lines inside a continuation are skipped, as BuildKit does.
            if is_comment(next) || next.trim().is_empty() {
                continue;
            }
            let (t, c) = strip_continuation(next, escape);
            text.push_str(t);
            continued = c;
        }
        let text = text.trim().to_string();
        if text.is_empty() {
            continue;
        }
        let mut heredocs = Vec::new();
        if can_have_heredocs(&text) {
            for (name, quoted, chomp) in heredoc_markers(&text, escape) {
                let mut content = String::new();
                let mut terminated = false;
                while i < lines.len() {
                    let raw = lines[i];
                    i += 1;
                    let body = if chomp {
                        raw.trim_start_matches('\t')
                    } else {
                        raw
                    };
                    if body == name {
                        terminated = true;
                        break;
                    }
                    content.push_str(body);
                    content.push('\n');
                }
                if !terminated {
                    return Err(DockerfileError::new(
                        start + 1,
                        format!("unterminated heredoc: no line \"{name}\" closes <<{name}"),
                    ));
                }
                heredocs.push(Heredoc {
                    name,
                    content,
                    expand: !quoted,
                    chomp,
                });
            }
        }
        out.push(Logical {
            line: start + 1,
            text,
            heredocs,
        });
    }
    Ok(out)
}

/// RUN, COPY and ADD in shell form may name heredocs (never the JSON exec form).
fn can_have_heredocs(text: &str) -> bool {
    let (keyword, rest) = match text.find(char::is_whitespace) {
        Some(idx) => (&text[..idx], &text[idx..]),
        None => (text, ""),
    };
    let (_, args) = take_flags(rest);
    ["RUN", "COPY", "ADD"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(keyword))
        && !args.starts_with('[')
}

/// The heredoc markers of a line (`<<EOF`, `<<-EOF`, `<<'EOF'`, `3<<EOF`, `<< EOF`):
/// (name, quoted, chomp), as BuildKit's `heredocsFromLine` finds them.
fn heredoc_markers(text: &str, escape: char) -> Vec<(String, bool, bool)> {
    let words = split_words(text, escape);
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some((marker, chomp)) = heredoc_marker(&words[i]) {
            let marker = if marker.is_empty() {
                i += 1;
                words.get(i).map(String::as_str).unwrap_or("")
            } else {
                marker
            };
            let (name, quoted) = unquote(marker, escape);
            if !name.is_empty() {
                out.push((name, quoted, chomp));
            }
        }
        i += 1;
    }
    out
}

/// `[n]<<[-]rest` → (rest, chomp); `<<<` (a here-string) is not a heredoc.
fn heredoc_marker(word: &str) -> Option<(&str, bool)> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    if rest.starts_with('<') {
        return None;
    }
    Some(match rest.strip_prefix('-') {
        Some(r) => (r, true),
        None => (rest, false),
    })
}

/// Removes quotes and escapes from a heredoc delimiter; true if any part was quoted.
fn unquote(word: &str, escape: char) -> (String, bool) {
    let mut out = String::new();
    let mut quoted = false;
    let mut quote: Option<char> = None;
    let mut chars = word.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => out.extend(chars.next()),
            Some(_) => out.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                quoted = true;
            }
            None if c == escape => out.extend(chars.next()),
            None => out.push(c),
        }
    }
    (out, quoted)
}

/// Splits on whitespace outside quotes, keeping the quotes (BuildKit's `parseWords`).
fn split_words(text: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            word.push(c);
            escaped = false;
            continue;
        }
        match quote {
            Some(q) => {
                if c == escape && q == '"' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                word.push(c);
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => {
                if c == '\'' || c == '"' {
                    quote = Some(c);
                } else if c == escape {
                    escaped = true;
                }
                word.push(c);
            }
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// A `--name[=value]` flag.
struct Flag {
    name: String,
    value: Option<String>,
}

/// Splits leading `--flags` off an instruction's arguments (quotes in values removed).
fn take_flags(rest: &str) -> (Vec<Flag>, &str) {
    let mut flags = Vec::new();
    let mut rest = rest.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        let mut token = String::new();
        let mut quote: Option<char> = None;
        let mut end = after.len();
        for (idx, c) in after.char_indices() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => token.push(c),
                None if c == '\'' || c == '"' => quote = Some(c),
                None if c.is_whitespace() => {
                    end = idx;
                    break;
                }
                None => token.push(c),
            }
        }
        rest = after[end..].trim_start();
        if token.is_empty() {
            break; // a bare `--` ends the flags
        }
        let (name, value) = match token.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (token, None),
        };
        flags.push(Flag { name, value });
    }
    (flags, rest)
}

fn parse_step(logical: &Logical, escape: char) -> Result<Step, DockerfileError> {
    let instruction = parse_instruction(&logical.text, logical.line, &logical.heredocs, escape)?;
    Ok(Step {
        line: logical.line,
        text: logical.text.clone(),
        instruction,
    })
}

fn parse_instruction(
    text: &str,
    line: usize,
    heredocs: &[Heredoc],
    escape: char,
) -> Result<Instruction, DockerfileError> {
    let err = |message: String| DockerfileError::new(line, message);
    let (word, rest) = match text.find(char::is_whitespace) {
        Some(idx) => (&text[..idx], text[idx..].trim()),
        None => (text, ""),
    };
    let keyword = word.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(err(unknown_instruction(word)));
    }
    let (flags, args) = take_flags(rest);
    let allowed: &[&str] = match keyword.as_str() {
        "FROM" => &["platform"],
        "RUN" => &["mount", "network", "security"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "exclude",
        ],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    };
    for flag in &flags {
        if !allowed.contains(&flag.name.as_str()) {
            let expected = if allowed.is_empty() {
                format!("{keyword} takes no flags")
            } else {
                let list: Vec<String> = allowed.iter().map(|a| format!("--{a}")).collect();
                format!("expected one of {}", list.join(", "))
            };
            return Err(err(format!(
                "unknown flag --{} for {keyword} ({expected})",
                flag.name
            )));
        }
    }
    let flag = |name: &str| -> Option<String> {
        flags
            .iter()
            .rev()
            .find(|f| f.name == name)
            .map(|f| f.value.clone().unwrap_or_default())
    };
    let bool_flag = |name: &str| -> Result<bool, DockerfileError> {
        match flags.iter().rev().find(|f| f.name == name) {
            None => Ok(false),
            Some(Flag { value: None, .. }) => Ok(true),
            Some(Flag { value: Some(v), .. }) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" | "" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(err(format!("--{name} expects true or false, not \"{v}\""))),
            },
        }
    };
    let multi = |name: &str| -> Vec<String> {
        flags
            .iter()
            .filter(|f| f.name == name)
            .map(|f| f.value.clone().unwrap_or_default())
            .collect()
    };
    let need_args = |what: &str| -> Result<(), DockerfileError> {
        if args.is_empty() {
            Err(err(format!("{keyword} requires {what}")))
        } else {
            Ok(())
        }
    };

    Ok(match keyword.as_str() {
        "FROM" => {
            if args.is_empty() {
                return Err(err(
                    "FROM requires the name of a base image (for example FROM alpine:3.20, or FROM scratch)"
                        .to_string(),
                ));
            }
            let words: Vec<&str> = args.split_whitespace().collect();
            let name = match words.as_slice() {
                [_] => None,
                [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
                    let name = name.to_ascii_lowercase();
                    if !valid_stage_name(&name) {
                        return Err(err(format!(
                            "invalid stage name \"{name}\": it must start with a letter and contain only letters, digits, '-', '_' and '.'"
                        )));
                    }
                    Some(name)
                }
                _ => {
                    return Err(err(format!(
                        "FROM takes an image and an optional \"AS name\", not \"{args}\""
                    )))
                }
            };
            Instruction::From(From {
                image: words[0].to_string(),
                name,
                platform: flag("platform"),
            })
        }
        "RUN" => {
            need_args("a command to run")?;
            Instruction::Run(Run {
                command: command_line(args, line)?,
                mounts: multi("mount"),
                network: flag("network"),
                security: flag("security"),
                heredocs: heredocs.to_vec(),
            })
        }
        "CMD" => {
            need_args("a command (exec form [\"executable\", \"arg\"] or shell form)")?;
            Instruction::Cmd(command_line(args, line)?)
        }
        "ENTRYPOINT" => {
            need_args("a command (exec form [\"executable\", \"arg\"] or shell form)")?;
            Instruction::Entrypoint(command_line(args, line)?)
        }
        "COPY" | "ADD" => {
            let words = match json_array(args, line)? {
                Some(words) => words,
                None => {
                    // `<< EOF` is one heredoc marker written as two words.
                    let mut words: Vec<String> = Vec::new();
                    for word in args.split_whitespace() {
                        match words.last_mut() {
                            Some(last)
                                if !heredocs.is_empty()
                                    && heredoc_marker(last).is_some_and(|(m, _)| m.is_empty()) =>
                            {
                                last.push_str(word)
                            }
                            _ => words.push(word.to_string()),
                        }
                    }
                    words
                }
            };
            if words.len() < 2 {
                return Err(err(format!(
                    "{keyword} requires at least one source and a destination (for example {keyword} . /app)"
                )));
            }
            let (dest, sources) = match words.split_last() {
                Some((dest, sources)) => (dest.clone(), sources),
                None => return Err(err(format!("{keyword} requires a destination"))),
            };
            let sources = sources
                .iter()
                .map(|s| copy_source(s, heredocs, escape))
                .collect();
            let args = CopyArgs {
                sources,
                dest,
                from: flag("from"),
                chown: flag("chown"),
                chmod: flag("chmod"),
                link: bool_flag("link")?,
                parents: bool_flag("parents")?,
                exclude: multi("exclude"),
                checksum: flag("checksum"),
                keep_git_dir: bool_flag("keep-git-dir")?,
            };
            if keyword == "COPY" {
                Instruction::Copy(args)
            } else {
                Instruction::Add(args)
            }
        }
        "ENV" | "LABEL" => {
            need_args("at least one name=value pair")?;
            let pairs = name_values(args, &keyword, line, escape)?;
            if keyword == "ENV" {
                Instruction::Env(pairs)
            } else {
                Instruction::Label(pairs)
            }
        }
        "ARG" => {
            need_args("a name (ARG name or ARG name=default)")?;
            let mut decls = Vec::new();
            for word in split_words(args, escape) {
                let (name, default) = match word.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (word, None),
                };
                if name.is_empty() {
                    return Err(err("ARG names can not be blank".to_string()));
                }
                decls.push(ArgDecl { name, default });
            }
            Instruction::Arg(decls)
        }
        "WORKDIR" => {
            need_args("a directory path")?;
            Instruction::Workdir(args.to_string())
        }
        "USER" => {
            need_args("a user name or UID (optionally :group)")?;
            Instruction::User(args.to_string())
        }
        "STOPSIGNAL" => {
            need_args("a signal name or number")?;
            Instruction::StopSignal(args.to_string())
        }
        "MAINTAINER" => {
            need_args("a name")?;
            Instruction::Maintainer(args.to_string())
        }
        "EXPOSE" => {
            need_args("at least one port (for example EXPOSE 80/tcp)")?;
            Instruction::Expose(args.split_whitespace().map(str::to_string).collect())
        }
        "VOLUME" => {
            need_args("at least one path")?;
            let paths = match json_array(args, line)? {
                Some(paths) => paths,
                None => args.split_whitespace().map(str::to_string).collect(),
            };
            if paths.iter().any(|p| p.trim().is_empty()) {
                return Err(err(
                    "VOLUME specified can not be an empty string".to_string()
                ));
            }
            Instruction::Volume(paths)
        }
        "SHELL" => {
            need_args("a JSON array, for example SHELL [\"/bin/bash\", \"-c\"]")?;
            match json_array(args, line)? {
                Some(words) if !words.is_empty() => Instruction::Shell(words),
                _ => {
                    return Err(err(
                        "SHELL requires the arguments to be in JSON form, for example SHELL [\"/bin/bash\", \"-c\"]"
                            .to_string(),
                    ))
                }
            }
        }
        "HEALTHCHECK" => {
            need_args("NONE or CMD followed by a command")?;
            let (kind, command) = match args.find(char::is_whitespace) {
                Some(idx) => (&args[..idx], args[idx..].trim()),
                None => (args, ""),
            };
            match kind.to_ascii_uppercase().as_str() {
                "NONE" => {
                    if !command.is_empty() || !flags.is_empty() {
                        return Err(err(
                            "HEALTHCHECK NONE takes no arguments or options".to_string()
                        ));
                    }
                    Instruction::Healthcheck(Healthcheck::None)
                }
                "CMD" => {
                    if command.is_empty() {
                        return Err(err("HEALTHCHECK CMD requires a command".to_string()));
                    }
                    let duration = |name: &str| -> Result<Option<Duration>, DockerfileError> {
                        match flag(name) {
                            None => Ok(None),
                            Some(v) => parse_duration(&v).map(Some).ok_or_else(|| {
                                err(format!(
                                    "--{name} expects a duration such as 30s or 1m30s, not \"{v}\""
                                ))
                            }),
                        }
                    };
                    let retries = match flag("retries") {
                        None => None,
                        Some(v) => Some(v.parse::<u32>().map_err(|_| {
                            err(format!(
                                "--retries expects a non-negative whole number, not \"{v}\""
                            ))
                        })?),
                    };
                    Instruction::Healthcheck(Healthcheck::Check {
                        command: command_line(command, line)?,
                        interval: duration("interval")?,
                        timeout: duration("timeout")?,
                        start_period: duration("start-period")?,
                        start_interval: duration("start-interval")?,
                        retries,
                    })
                }
                _ => {
                    return Err(err(format!(
                        "unknown HEALTHCHECK type \"{kind}\" (expected CMD or NONE)"
                    )))
                }
            }
        }
        "ONBUILD" => {
            need_args("an instruction to run in images built from this one")?;
            let nested_keyword = args
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if matches!(nested_keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(err(format!(
                    "{nested_keyword} isn't allowed as an ONBUILD trigger"
                )));
            }
            let nested = parse_instruction(args, line, heredocs, escape)?;
            Instruction::Onbuild(Box::new(Step {
                line,
                text: args.to_string(),
                instruction: nested,
            }))
        }
        _ => return Err(err(unknown_instruction(word))),
    })
}

fn unknown_instruction(word: &str) -> String {
    let upper = word.to_ascii_uppercase();
    let best = KEYWORDS
        .iter()
        .map(|k| (strsim::damerau_levenshtein(&upper, k), *k))
        .min();
    match best {
        Some((distance, keyword)) if distance <= 2 => {
            format!("unknown instruction: {word} (did you mean {keyword}?)")
        }
        _ => format!("unknown instruction: {word}"),
    }
}

fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

fn copy_source(word: &str, heredocs: &[Heredoc], escape: char) -> CopySource {
    if let Some((marker, _)) = heredoc_marker(word) {
        let (name, _) = unquote(marker, escape);
        if let Some(doc) = heredocs.iter().find(|h| h.name == name) {
            return CopySource::Heredoc(doc.clone());
        }
    }
    CopySource::Path(word.to_string())
}

/// Parses `args` as a JSON array of strings when it is meant to be one.
///
/// Like BuildKit, text that is not JSON is the shell form — except where it is clearly an
/// attempt at the exec form (brackets with a comma, or single-quoted items), which
/// BuildKit would silently run through `/bin/sh` and fail at run time.
fn json_array(args: &str, line: usize) -> Result<Option<Vec<String>>, DockerfileError> {
    let trimmed = args.trim();
    if !(trimmed.starts_with('[') && trimmed.ends_with(']')) {
        return Ok(None);
    }
    match serde_json::from_str::<Vec<String>>(trimmed) {
        Ok(words) => Ok(Some(words)),
        Err(e) => {
            let inner = trimmed[1..].trim_start();
            if trimmed.contains(',') || inner.starts_with('\'') {
                Err(DockerfileError::new(
                    line,
                    format!(
                        "invalid JSON in exec form {trimmed}: {e} (use double quotes: [\"executable\", \"arg\"])"
                    ),
                ))
            } else {
                Ok(None)
            }
        }
    }
}

fn command_line(args: &str, line: usize) -> Result<CommandLine, DockerfileError> {
    Ok(match json_array(args, line)? {
        Some(words) => CommandLine::Exec(words),
        None => CommandLine::Shell(args.to_string()),
    })
}

/// `ENV a=b c=d` or legacy `ENV a b c` (value is the rest of the line).
fn name_values(
    args: &str,
    keyword: &str,
    line: usize,
    escape: char,
) -> Result<Vec<KeyValue>, DockerfileError> {
    let words = split_words(args, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let value = args.get(first.len()..).unwrap_or("").trim();
        if value.is_empty() {
            return Err(DockerfileError::new(
                line,
                format!("{keyword} {first} has no value (use {keyword} {first}=value)"),
            ));
        }
        return Ok(vec![KeyValue {
            key: first.clone(),
            value: value.to_string(),
        }]);
    }
    let mut pairs = Vec::new();
    for word in words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(DockerfileError::new(
                line,
                format!("{keyword}: can't find = in \"{word}\"; each item must be name=value"),
            ));
        };
        if key.is_empty() {
            return Err(DockerfileError::new(
                line,
                format!("{keyword} names can not be blank"),
            ));
        }
        pairs.push(KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        });
    }
    Ok(pairs)
}

/// Go's `time.ParseDuration` syntax Docker accepts: `1h2m3s`, `1.5s`, `300ms`, `10us`, `0`.
fn parse_duration(text: &str) -> Option<Duration> {
    crate::compose::model::Duration::parse_std(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(text: &str) -> Vec<Instruction> {
        let df = parse(text).unwrap();
        df.stages[0]
            .instructions
            .iter()
            .map(|s| s.instruction.clone())
            .collect()
    }

    fn only(text: &str) -> Instruction {
        let mut all = steps(&format!("FROM alpine\n{text}"));
        assert_eq!(all.len(), 1, "{all:?}");
        all.remove(0)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    fn path(p: &str) -> CopySource {
        CopySource::Path(p.to_string())
    }

    #[test]
    fn story5_multi_stage_node_build_and_nginx() {
        let df = parse(
            "FROM node:20 AS build\n\
             WORKDIR /app\n\
             COPY package.json package-lock.json ./\n\
             RUN npm install\n\
             COPY . .\n\
             RUN npm run build\n\
             \n\
             FROM nginx:alpine\n\
             COPY --from=build /app/build /usr/share/nginx/html\n\
             EXPOSE 80\n\
             CMD [\"nginx\", \"-g\", \"daemon off;\"]\n",
        )
        .unwrap();
        assert_eq!(df.stages.len(), 2);
        let build = &df.stages[0];
        assert_eq!(build.name.as_deref(), Some("build"));
        assert_eq!(build.base, "node:20");
        assert_eq!(build.line, 1);
        assert_eq!(build.instructions.len(), 5);
        assert_eq!(build.instructions[2].text, "RUN npm install");
        assert_eq!(build.instructions[2].line, 4);
        assert_eq!(
            build.instructions[1].instruction,
            Instruction::Copy(CopyArgs {
                sources: vec![path("package.json"), path("package-lock.json")],
                dest: "./".into(),
                ..CopyArgs::default()
            })
        );
        let serve = &df.stages[1];
        assert_eq!(serve.name, None);
        assert_eq!(serve.line, 8);
        assert_eq!(
            serve.instructions[0].instruction,
            Instruction::Copy(CopyArgs {
                sources: vec![path("/app/build")],
                dest: "/usr/share/nginx/html".into(),
                from: Some("build".into()),
                ..CopyArgs::default()
            })
        );
        assert_eq!(
            serve.instructions[1].instruction,
            Instruction::Expose(vec!["80".into()])
        );
        assert_eq!(
            serve.instructions[2].instruction,
            Instruction::Cmd(CommandLine::Exec(vec![
                "nginx".into(),
                "-g".into(),
                "daemon off;".into()
            ]))
        );
    }

    #[test]
    fn php_dockerfile_style() {
        let all = steps(
            "FROM php:8.2-fpm-alpine\n\
             \n\
             WORKDIR /var/www/html\n\
             \n\
             COPY src .\n\
             \n\
             RUN docker-php-ext-install pdo pdo_mysql\n\
             RUN addgroup -g 1000 laravel && adduser -G laravel -g laravel -s /bin/sh -D laravel\n\
             USER laravel\n",
        );
        assert_eq!(all[0], Instruction::Workdir("/var/www/html".into()));
        assert_eq!(
            all[2],
            Instruction::Run(Run {
                command: CommandLine::Shell("docker-php-ext-install pdo pdo_mysql".into()),
                mounts: vec![],
                network: None,
                security: None,
                heredocs: vec![],
            })
        );
        assert_eq!(all[4], Instruction::User("laravel".into()));
    }

    #[test]
    fn directives_at_the_top_are_read() {
        let df = parse("# syntax=docker/dockerfile:1\n# escape=`\n# check=skip=all\nFROM alpine\n")
            .unwrap();
        assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
        assert_eq!(df.directives.escape, '`');
        assert_eq!(df.directives.check.as_deref(), Some("skip=all"));
    }

    #[test]
    fn directives_after_a_comment_or_instruction_are_comments() {
        let df = parse("# a comment\n# escape=`\nFROM alpine\n").unwrap();
        assert_eq!(df.directives.escape, '\\');
        let df = parse("\n# escape=`\nFROM alpine\n").unwrap();
        assert_eq!(df.directives.escape, '\\');
        let df = parse("FROM alpine\n# escape=`\nRUN a \\\n b\n").unwrap();
        assert_eq!(df.directives.escape, '\\');
        assert_eq!(df.stages[0].instructions[0].text, "RUN a  b");
        let df = parse("# unknown=1\n# escape=`\nFROM alpine\n").unwrap();
        assert_eq!(df.directives.escape, '\\');
    }

    #[test]
    fn directive_errors() {
        assert_eq!(
            error("# escape=\\\n# escape=`\nFROM a\n"),
            "Dockerfile line 2: only one escape parser directive can be used"
        );
        assert_eq!(
            error("# escape=x\nFROM a\n"),
            "Dockerfile line 1: invalid escape token 'x' does not match ` or \\"
        );
    }

    #[test]
    fn backtick_escape_continues_lines_and_keeps_backslashes() {
        let all = steps(
            "# escape=`\nFROM windows\nCOPY testfile.txt c:\\ `\n  c:\\dest\\\nRUN dir c:\\\n",
        );
        assert_eq!(
            all[0],
            Instruction::Copy(CopyArgs {
                sources: vec![path("testfile.txt"), path("c:\\")],
                dest: "c:\\dest\\".into(),
                ..CopyArgs::default()
            })
        );
        assert!(
            matches!(&all[1], Instruction::Run(r) if r.command == CommandLine::Shell("dir c:\\".into()))
        );
    }

    #[test]
    fn continuations_skip_comment_and_empty_lines() {
        let df = parse(
            "FROM alpine\nRUN apk add \\\n  # the compiler\n  gcc \\\n\n  make\nRUN echo done\n",
        )
        .unwrap();
        let steps = &df.stages[0].instructions;
        assert_eq!(steps[0].text, "RUN apk add   gcc   make");
        assert_eq!(steps[0].line, 2);
        assert_eq!(steps[1].line, 7);
    }

    /// BuildKit's `TestParseWarnsOnEmptyContinutationLine` joins lines exactly like this.
    #[test]
    fn continuation_joining_matches_buildkit() {
        let df = parse(
            "FROM alpine:3.6\n\nRUN something \\\n\n    following \\\n\n    more\n\nRUN non-indented \\\n# this is a comment\n   after-comment\n\nRUN indented \\\n    # this is an indented comment\n    comment\n",
        )
        .unwrap();
        let texts: Vec<_> = df.stages[0]
            .instructions
            .iter()
            .map(|s| (s.line, s.text.as_str()))
            .collect();
        assert_eq!(
            texts,
            vec![
                (3, "RUN something     following     more"),
                (9, "RUN non-indented    after-comment"),
                (13, "RUN indented     comment"),
            ]
        );
    }

    #[test]
    fn comments_and_crlf_are_ignored() {
        let df = parse("# hello\r\nFROM alpine\r\n  # indented comment\r\nRUN true\r\n").unwrap();
        assert_eq!(df.stages[0].instructions[0].text, "RUN true");
    }

    #[test]
    fn instruction_names_are_case_insensitive() {
        let all = steps("from alpine as Base\nrun echo hi\nCopy a b\n");
        assert!(matches!(all[0], Instruction::Run(_)));
        assert!(matches!(all[1], Instruction::Copy(_)));
        let df = parse("from alpine as Base\n").unwrap();
        assert_eq!(df.stages[0].name.as_deref(), Some("base"));
    }

    #[test]
    fn run_heredoc() {
        let Instruction::Run(run) = only("RUN <<EOF\napk add curl\necho $HOME\nEOF\n") else {
            panic!()
        };
        assert_eq!(run.command, CommandLine::Shell("<<EOF".into()));
        assert_eq!(
            run.heredocs,
            vec![Heredoc {
                name: "EOF".into(),
                content: "apk add curl\necho $HOME\n".into(),
                expand: true,
                chomp: false,
            }]
        );
    }

    #[test]
    fn heredoc_chomp_strips_leading_tabs() {
        let Instruction::Run(run) = only("RUN <<-EOT\n\techo a\n\t\techo b\n\tEOT\n") else {
            panic!()
        };
        assert_eq!(run.heredocs[0].content, "echo a\necho b\n");
        assert!(run.heredocs[0].chomp);
    }

    #[test]
    fn quoted_heredoc_delimiter_disables_expansion() {
        let Instruction::Run(run) = only("RUN python3 <<'PY'\nprint('$x')\nPY\n") else {
            panic!()
        };
        assert!(!run.heredocs[0].expand);
        assert_eq!(run.heredocs[0].name, "PY");
        let Instruction::Run(run) = only("RUN sh <<\"X\"\nx\nX\n") else {
            panic!()
        };
        assert!(!run.heredocs[0].expand);
    }

    #[test]
    fn several_heredocs_on_one_line() {
        let df = parse(
            "FROM alpine\nRUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\nRUN true\n",
        )
        .unwrap();
        let Instruction::Run(run) = &df.stages[0].instructions[0].instruction else {
            panic!()
        };
        assert_eq!(run.heredocs.len(), 2);
        assert_eq!(run.heredocs[0].content, "I am\nfirst\n");
        assert_eq!(run.heredocs[1].content, "I am\nsecond\n");
        assert_eq!(df.stages[0].instructions[1].line, 9);
    }

    #[test]
    fn copy_heredoc_to_a_file() {
        let Instruction::Copy(copy) = only("COPY <<EOF /etc/motd\nhello\nEOF\n") else {
            panic!()
        };
        assert_eq!(copy.dest, "/etc/motd");
        assert_eq!(
            copy.sources,
            vec![CopySource::Heredoc(Heredoc {
                name: "EOF".into(),
                content: "hello\n".into(),
                expand: true,
                chomp: false,
            })]
        );
    }

    #[test]
    fn exec_form_run_has_no_heredocs() {
        let Instruction::Run(run) = only("RUN [\"sh\", \"-c\", \"cat <<EOF\"]") else {
            panic!()
        };
        assert!(run.heredocs.is_empty());
    }

    /// BuildKit's `TestParseExtractsHeredoc` table (content after `<<-` is chomped here).
    #[test]
    fn buildkit_heredoc_table() {
        let df = parse(
            "FROM alpine:3.6\nUSER <<INVALID\nRUN <<EMPTY\nEMPTY\nRUN 3<<EMPTY2\nEMPTY2\nRUN \"<<NOHEREDOC\"\n\
             RUN <<INDENT\n\tfoo\n\tbar\nINDENT\nRUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\
             RUN <<COMMENT\n# internal comment\necho hi # trailing\nCOMMENT\n\
             RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\
             COPY <<X <<Y /dest\nY\nX\nX\nY\n\
             RUN <<eo'f'\necho foo\neof\nRUN <<eo\\'f\necho foo\neo'f\nRUN <<'e'o\\'f\necho foo\neo'f\n\
             RUN <<'one two'\necho bar\none two\nRUN <<$EOF\n$EOF\nRUN <<  EOF\nEOF\nRUN << -EOF\n-EOF\n\
             RUN <<<here-string\nCOPY << EOF /x\nhi\nEOF\n",
        )
        .unwrap();
        let docs: Vec<Vec<(String, String, bool, bool)>> = df.stages[0]
            .instructions
            .iter()
            .map(|s| match &s.instruction {
                Instruction::Run(r) => r.heredocs.clone(),
                Instruction::Copy(c) => c
                    .sources
                    .iter()
                    .filter_map(|s| match s {
                        CopySource::Heredoc(h) => Some(h.clone()),
                        CopySource::Path(_) => None,
                    })
                    .collect(),
                _ => Vec::new(),
            })
            .map(|hs| {
                hs.into_iter()
                    .map(|h| (h.name, h.content, h.expand, h.chomp))
                    .collect()
            })
            .collect();
        let d = |n: &str, c: &str, e: bool, ch: bool| (n.to_string(), c.to_string(), e, ch);
        assert_eq!(
            docs,
            vec![
                vec![],
                vec![d("EMPTY", "", true, false)],
                vec![d("EMPTY2", "", true, false)],
                vec![],
                vec![d("INDENT", "\tfoo\n\tbar\n", true, false)],
                vec![d("UNINDENT2", "baz\nquux\n", true, true)],
                vec![d(
                    "COMMENT",
                    "# internal comment\necho hi # trailing\n",
                    true,
                    false
                )],
                vec![d("MOUNT", "echo hello\n", true, false)],
                vec![d("X", "Y\n", true, false), d("Y", "X\n", true, false)],
                vec![d("eof", "echo foo\n", false, false)],
                vec![d("eo'f", "echo foo\n", true, false)],
                vec![d("eo'f", "echo foo\n", false, false)],
                vec![d("one two", "echo bar\n", false, false)],
                vec![d("$EOF", "", true, false)],
                vec![d("EOF", "", true, false)],
                vec![d("-EOF", "", true, false)],
                vec![],
                vec![d("EOF", "hi\n", true, false)],
            ]
        );
    }

    #[test]
    fn unterminated_heredoc_is_an_error() {
        assert_eq!(
            error("FROM alpine\nRUN <<EOF\necho hi\n"),
            "Dockerfile line 2: unterminated heredoc: no line \"EOF\" closes <<EOF"
        );
    }

    #[test]
    fn exec_and_shell_forms() {
        assert_eq!(
            only("ENTRYPOINT [\"npm\"]"),
            Instruction::Entrypoint(CommandLine::Exec(vec!["npm".into()]))
        );
        assert_eq!(
            only("CMD npm start"),
            Instruction::Cmd(CommandLine::Shell("npm start".into()))
        );
        assert_eq!(only("CMD []"), Instruction::Cmd(CommandLine::Exec(vec![])));
        // Shell `[` tests stay shell form, as in BuildKit.
        assert!(matches!(
            only("RUN [ -f /etc/hosts ]"),
            Instruction::Run(Run {
                command: CommandLine::Shell(_),
                ..
            })
        ));
        assert!(matches!(
            only("RUN [ \"$A\" = \"b\" ]"),
            Instruction::Run(Run {
                command: CommandLine::Shell(_),
                ..
            })
        ));
    }

    #[test]
    fn bad_json_in_exec_form_is_an_error() {
        assert_eq!(
            error("FROM a\nCMD ['npm', 'start']\n"),
            "Dockerfile line 2: invalid JSON in exec form ['npm', 'start']: expected value at line 1 column 2 (use double quotes: [\"executable\", \"arg\"])"
        );
        assert!(error("FROM a\nENTRYPOINT [\"a\", ]\n")
            .starts_with("Dockerfile line 2: invalid JSON in exec form"));
    }

    #[test]
    fn flags_are_parsed() {
        assert_eq!(
            only("COPY --from=build --chown=1000:1000 --chmod=755 --link src/ /app/"),
            Instruction::Copy(CopyArgs {
                sources: vec![path("src/")],
                dest: "/app/".into(),
                from: Some("build".into()),
                chown: Some("1000:1000".into()),
                chmod: Some("755".into()),
                link: true,
                ..CopyArgs::default()
            })
        );
        let Instruction::Run(run) = only(
            "RUN --mount=type=cache,target=/root/.npm --mount=type=secret,id=tok --network=none npm ci",
        ) else {
            panic!()
        };
        assert_eq!(
            run.mounts,
            vec!["type=cache,target=/root/.npm", "type=secret,id=tok"]
        );
        assert_eq!(run.network.as_deref(), Some("none"));
        assert_eq!(run.command, CommandLine::Shell("npm ci".into()));
        let df = parse("FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n").unwrap();
        assert_eq!(df.stages[0].platform.as_deref(), Some("$BUILDPLATFORM"));
        assert_eq!(df.stages[0].base, "golang:1.22");
        let Instruction::Copy(copy) = only("COPY --link=false --chown=\"a b\" a b") else {
            panic!()
        };
        assert!(!copy.link);
        assert_eq!(copy.chown.as_deref(), Some("a b"));
        let Instruction::Add(add) =
            only("ADD --checksum=sha256:abc --keep-git-dir https://x/y.tar /")
        else {
            panic!()
        };
        assert_eq!(add.checksum.as_deref(), Some("sha256:abc"));
        assert!(add.keep_git_dir);
    }

    #[test]
    fn unknown_flag_is_an_error() {
        assert_eq!(
            error("FROM a\nCOPY --form=build a b\n"),
            "Dockerfile line 2: unknown flag --form for COPY (expected one of --from, --chown, --chmod, --link, --parents, --exclude)"
        );
        assert_eq!(
            error("FROM a\nADD --from=x a b\n"),
            "Dockerfile line 2: unknown flag --from for ADD (expected one of --chown, --chmod, --link, --checksum, --keep-git-dir, --exclude)"
        );
        assert_eq!(
            error("FROM a\nWORKDIR --x=1 /a\n"),
            "Dockerfile line 2: unknown flag --x for WORKDIR (WORKDIR takes no flags)"
        );
        assert_eq!(
            error("FROM a\nCOPY --link=maybe a b\n"),
            "Dockerfile line 2: --link expects true or false, not \"maybe\""
        );
    }

    #[test]
    fn env_forms() {
        assert_eq!(
            only("ENV a=b c=\"d e\" f=g\\ h"),
            Instruction::Env(vec![
                KeyValue {
                    key: "a".into(),
                    value: "b".into()
                },
                KeyValue {
                    key: "c".into(),
                    value: "\"d e\"".into()
                },
                KeyValue {
                    key: "f".into(),
                    value: "g\\ h".into()
                },
            ])
        );
        assert_eq!(
            only("ENV NODE_ENV production mode"),
            Instruction::Env(vec![KeyValue {
                key: "NODE_ENV".into(),
                value: "production mode".into()
            }])
        );
        assert_eq!(
            error("FROM a\nENV a=b c\n"),
            "Dockerfile line 2: ENV: can't find = in \"c\"; each item must be name=value"
        );
        assert_eq!(
            error("FROM a\nENV =b\n"),
            "Dockerfile line 2: ENV names can not be blank"
        );
        assert_eq!(
            error("FROM a\nENV a\n"),
            "Dockerfile line 2: ENV a has no value (use ENV a=value)"
        );
    }

    #[test]
    fn label_expose_volume_arg() {
        assert_eq!(
            only("LABEL org.opencontainers.image.title=\"my app\" version=1.0"),
            Instruction::Label(vec![
                KeyValue {
                    key: "org.opencontainers.image.title".into(),
                    value: "\"my app\"".into()
                },
                KeyValue {
                    key: "version".into(),
                    value: "1.0".into()
                },
            ])
        );
        assert_eq!(
            only("EXPOSE 80/tcp 53/udp 8080"),
            Instruction::Expose(vec!["80/tcp".into(), "53/udp".into(), "8080".into()])
        );
        assert_eq!(
            only("VOLUME [\"/data\", \"/logs\"]"),
            Instruction::Volume(vec!["/data".into(), "/logs".into()])
        );
        assert_eq!(
            only("VOLUME /data /logs"),
            Instruction::Volume(vec!["/data".into(), "/logs".into()])
        );
        assert_eq!(
            only("ARG a b=2"),
            Instruction::Arg(vec![
                ArgDecl {
                    name: "a".into(),
                    default: None
                },
                ArgDecl {
                    name: "b".into(),
                    default: Some("2".into())
                },
            ])
        );
    }

    #[test]
    fn healthcheck_forms() {
        assert_eq!(
            only("HEALTHCHECK NONE"),
            Instruction::Healthcheck(Healthcheck::None)
        );
        assert_eq!(
            only("HEALTHCHECK --interval=5s --timeout=1m30s --start-period=500ms --start-interval=1s --retries=3 CMD curl -f http://localhost/"),
            Instruction::Healthcheck(Healthcheck::Check {
                command: CommandLine::Shell("curl -f http://localhost/".into()),
                interval: Some(Duration::from_secs(5)),
                timeout: Some(Duration::from_secs(90)),
                start_period: Some(Duration::from_millis(500)),
                start_interval: Some(Duration::from_secs(1)),
                retries: Some(3),
            })
        );
        assert!(matches!(
            only("HEALTHCHECK CMD [\"pg_isready\"]"),
            Instruction::Healthcheck(Healthcheck::Check {
                command: CommandLine::Exec(_),
                ..
            })
        ));
        assert_eq!(
            error("FROM a\nHEALTHCHECK --interval=5 CMD true\n"),
            "Dockerfile line 2: --interval expects a duration such as 30s or 1m30s, not \"5\""
        );
        assert_eq!(
            error("FROM a\nHEALTHCHECK --retries=x CMD true\n"),
            "Dockerfile line 2: --retries expects a non-negative whole number, not \"x\""
        );
        assert_eq!(
            error("FROM a\nHEALTHCHECK RUN true\n"),
            "Dockerfile line 2: unknown HEALTHCHECK type \"RUN\" (expected CMD or NONE)"
        );
        assert_eq!(
            error("FROM a\nHEALTHCHECK NONE x\n"),
            "Dockerfile line 2: HEALTHCHECK NONE takes no arguments or options"
        );
    }

    #[test]
    fn shell_stopsignal_maintainer_workdir() {
        assert_eq!(
            only("SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]"),
            Instruction::Shell(vec![
                "/bin/bash".into(),
                "-o".into(),
                "pipefail".into(),
                "-c".into()
            ])
        );
        assert_eq!(
            error("FROM a\nSHELL /bin/bash -c\n"),
            "Dockerfile line 2: SHELL requires the arguments to be in JSON form, for example SHELL [\"/bin/bash\", \"-c\"]"
        );
        assert_eq!(
            only("STOPSIGNAL SIGTERM"),
            Instruction::StopSignal("SIGTERM".into())
        );
        assert_eq!(
            only("MAINTAINER me <me@x>"),
            Instruction::Maintainer("me <me@x>".into())
        );
    }

    #[test]
    fn onbuild_nests_an_instruction() {
        assert_eq!(
            only("ONBUILD COPY . /app"),
            Instruction::Onbuild(Box::new(Step {
                line: 2,
                text: "COPY . /app".into(),
                instruction: Instruction::Copy(CopyArgs {
                    sources: vec![path(".")],
                    dest: "/app".into(),
                    ..CopyArgs::default()
                }),
            }))
        );
        assert_eq!(
            error("FROM a\nONBUILD ONBUILD RUN x\n"),
            "Dockerfile line 2: ONBUILD isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(
            error("FROM a\nONBUILD from b\n"),
            "Dockerfile line 2: FROM isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(
            error("FROM a\nONBUILD RUNN x\n"),
            "Dockerfile line 2: unknown instruction: RUNN (did you mean RUN?)"
        );
    }

    #[test]
    fn args_before_from_are_kept_apart() {
        let df = parse("ARG VERSION=20\nARG BASE\nFROM node:${VERSION}\nARG VERSION\n").unwrap();
        assert_eq!(df.args_before_from.len(), 2);
        assert_eq!(df.args_before_from[1].line, 2);
        assert_eq!(df.stages[0].base, "node:${VERSION}");
    }

    #[test]
    fn unknown_instruction_suggests_the_closest() {
        assert_eq!(
            error("FROM a\nCOPPY a b\n"),
            "Dockerfile line 2: unknown instruction: COPPY (did you mean COPY?)"
        );
        assert_eq!(
            error("FROM a\nworkdri /x\n"),
            "Dockerfile line 2: unknown instruction: workdri (did you mean WORKDIR?)"
        );
        assert_eq!(
            error("FROM a\nINSTALL x\n"),
            "Dockerfile line 2: unknown instruction: INSTALL"
        );
    }

    #[test]
    fn missing_arguments_are_errors() {
        assert_eq!(
            error("FROM a\nRUN\n"),
            "Dockerfile line 2: RUN requires a command to run"
        );
        assert_eq!(
            error("FROM a\nWORKDIR\n"),
            "Dockerfile line 2: WORKDIR requires a directory path"
        );
        assert_eq!(
            error("FROM a\nCOPY onlyone\n"),
            "Dockerfile line 2: COPY requires at least one source and a destination (for example COPY . /app)"
        );
        assert_eq!(
            error("FROM a\nEXPOSE\n"),
            "Dockerfile line 2: EXPOSE requires at least one port (for example EXPOSE 80/tcp)"
        );
        assert_eq!(
            error("FROM a\nENV\n"),
            "Dockerfile line 2: ENV requires at least one name=value pair"
        );
    }

    #[test]
    fn from_errors() {
        assert_eq!(
            error("FROM\n"),
            "Dockerfile line 1: FROM requires the name of a base image (for example FROM alpine:3.20, or FROM scratch)"
        );
        assert_eq!(
            error("FROM --platform=linux/amd64\n"),
            "Dockerfile line 1: FROM requires the name of a base image (for example FROM alpine:3.20, or FROM scratch)"
        );
        assert_eq!(
            error("FROM a b c\n"),
            "Dockerfile line 1: FROM takes an image and an optional \"AS name\", not \"a b c\""
        );
        assert_eq!(
            error("FROM a AS 1st\n"),
            "Dockerfile line 1: invalid stage name \"1st\": it must start with a letter and contain only letters, digits, '-', '_' and '.'"
        );
        assert_eq!(
            error("# just a comment\n"),
            "Dockerfile: the file has no instructions (expected at least FROM)"
        );
        assert_eq!(
            error("ARG X=1\n"),
            "Dockerfile: no FROM instruction: a Dockerfile needs at least one stage"
        );
    }

    #[test]
    fn instruction_before_from_is_an_error() {
        assert_eq!(
            error("# c\nRUN echo hi\nFROM alpine\n"),
            "Dockerfile line 2: RUN before the first FROM: only ARG may come before FROM"
        );
    }

    #[test]
    fn scratch_and_stage_index_bases() {
        let df = parse("FROM scratch\nCOPY a /\nFROM 0\n").unwrap();
        assert_eq!(df.stages[0].base, "scratch");
        assert_eq!(df.stages[1].base, "0");
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("1h2m3s"), Some(Duration::from_secs(3723)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration(""), None);
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("..s"), None);
    }

    #[test]
    fn arbitrary_input_never_panics() {
        let samples = [
            "",
            "\\",
            "`",
            "FROM",
            "FROM a\nRUN <<",
            "FROM a\nRUN <<-",
            "FROM a\nCOPY <<'' x\n",
            "FROM a\nCOPY --",
            "FROM a\nCOPY --=x a b",
            "FROM a\nENV é=ü",
            "FROM a\nHEALTHCHECK",
            "FROM a\nHEALTHCHECK CMD",
            "FROM a\nLABEL \"unterminated",
            "#escape=\nFROM a",
            "FROM a\nRUN [\"\\u00e9\"]",
            "FROM a\nONBUILD",
            "FROM a\nRUN \\",
            "FROM a\nEXPOSE ${",
        ];
        for s in samples {
            let _ = parse(s);
        }
    }
}
