//! The variables a compose project uses, for `hoist config --variables`: every `$VAR` /
//! `${VAR…}` in the files' values, with its default, alternate value and whether it is required.

use std::path::Path;
use std::sync::Arc;

use super::discover::{self, display_name};
use super::error::LoadError;
use super::load::LoadOptions;
use super::yaml::{self, Node, Value};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Variable {
    pub name: String,
    pub required: bool,
    pub default: Option<String>,
    pub alternate: Option<String>,
}

/// Variables used by the project's compose files, in order of first use.
pub fn in_files(opts: &LoadOptions) -> Result<Vec<Variable>, LoadError> {
    let dir = opts
        .project_directory
        .clone()
        .unwrap_or_else(|| opts.working_dir.clone());
    let env = discover::project_environment(&opts.process_env, &opts.env_files, &dir)?;
    let files = discover::compose_files(&opts.files, &env, &opts.working_dir, &mut Vec::new())?;
    let mut found = Vec::new();
    for file in files {
        let text = if file == Path::new("-") {
            opts.stdin.clone().unwrap_or_default()
        } else {
            std::fs::read_to_string(&file)
                .map_err(|e| LoadError::new(format!("cannot read {}: {e}", file.display())))?
        };
        let name: Arc<str> = Arc::from(display_name(&file, &opts.working_dir));
        for doc in yaml::parse(&text, &name)? {
            walk(&doc, &mut found);
        }
    }
    Ok(found)
}

fn walk(node: &Node, found: &mut Vec<Variable>) {
    match &node.value {
        Value::Scalar(s) => scan(&s.text, found),
        Value::Seq(items) => items.iter().for_each(|i| walk(i, found)),
        Value::Map(m) => m.values().for_each(|e| walk(&e.value, found)),
        Value::Null => {}
    }
}

/// Collects the variables referenced in one template string.
pub fn scan(text: &str, found: &mut Vec<Variable>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'$') => i += 2,
            Some(b'{') => {
                let start = i + 2;
                let Some(len) = braced_len(&text[start..]) else {
                    return;
                };
                let inner = &text[start..start + len];
                let name_len = inner
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                let (name, rest) = inner.split_at(name_len);
                let mut var = Variable {
                    name: name.to_string(),
                    required: false,
                    default: None,
                    alternate: None,
                };
                let op_len = if rest.starts_with(':') { 2 } else { 1 };
                let arg = rest.get(op_len..).unwrap_or("");
                match rest.trim_start_matches(':').chars().next() {
                    Some('-') => var.default = Some(arg.to_string()),
                    Some('+') => var.alternate = Some(arg.to_string()),
                    Some('?') => var.required = true,
                    _ => {}
                }
                if !name.is_empty() {
                    add(found, var);
                }
                scan(arg, found);
                i = start + len + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let len = text[i + 1..]
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                add(
                    found,
                    Variable {
                        name: text[i + 1..i + 1 + len].to_string(),
                        required: false,
                        default: None,
                        alternate: None,
                    },
                );
                i += 1 + len;
            }
            _ => i += 1,
        }
    }
}

/// Length of a `${…}` body up to its matching `}`.
fn braced_len(text: &str) -> Option<usize> {
    let mut depth = 1;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn add(found: &mut Vec<Variable>, var: Variable) {
    match found.iter_mut().find(|v| v.name == var.name) {
        Some(existing) => {
            existing.required |= var.required;
            if existing.default.is_none() {
                existing.default = var.default;
            }
            if existing.alternate.is_none() {
                existing.alternate = var.alternate;
            }
        }
        None => found.push(var),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_every_form_and_nesting() {
        let mut found = Vec::new();
        scan(
            "$A ${B} ${C:-x} ${D?must} ${E:+alt} $$F ${G:-${H:-y}}",
            &mut found,
        );
        let names: Vec<&str> = found.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["A", "B", "C", "D", "E", "G", "H"]);
        assert_eq!(found[2].default.as_deref(), Some("x"));
        assert!(found[3].required);
        assert_eq!(found[4].alternate.as_deref(), Some("alt"));
        assert_eq!(found[5].default.as_deref(), Some("${H:-y}"));
        assert_eq!(found[6].default.as_deref(), Some("y"));
    }
}
