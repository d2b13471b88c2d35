//! Snapshot tests of `hoist config`: every directory under `tests/fixtures/config/` is a compose
//! project whose canonical YAML (and loader warnings) is pinned in `tests/snapshots/`; every
//! directory under `tests/fixtures/errors/` is a project that must fail to load, and the error's
//! text is pinned instead.
//!
//! A case directory holds `compose.yaml` (or whatever files its `args` name), optionally `args`
//! (one line: the command line after `hoist`, e.g. `-f a.yaml config web`, shell-quoted) and `process.env` (`KEY=VALUE` lines: the
//! whole process environment besides `HOME=/home/user`; nothing leaks in from the real one).
//! The absolute case directory is replaced by `$PROJECT` so snapshots are machine-independent.
//!
//! Update snapshots with `INSTA_UPDATE=always cargo test --test config_snapshots`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use clap::Parser;
use hoist::cli::config::{render, ConfigArgs};
use hoist::cli::{apply_global, Cli, Command};
use hoist::compose::error::LoadError;
use hoist::compose::load::{load, LoadOptions, Loaded};

fn fixtures(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(kind)
}

/// The case directories of `kind` with their names, sorted by name. The `config` cases also
/// cover every stack in `compose-examples/`, in place, as `example-<stack>`.
fn cases(kind: &str) -> Vec<(String, PathBuf)> {
    let dirs = |dir: &Path, prefix: &str| -> Vec<(String, PathBuf)> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .map(|p| {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                (format!("{prefix}{name}"), p)
            })
            .collect()
    };
    let mut out = dirs(&fixtures(kind), "");
    if kind == "config" {
        out.extend(dirs(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("compose-examples"),
            "example-",
        ));
    }
    out.sort();
    out
}

/// Splits an `args` line the way a POSIX shell would for simple quoting: `'…'`, `"…"`, `\x`.
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        _ => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// A case's load options and the `config` arguments its `args` file gives.
fn options(case: &Path) -> Result<(LoadOptions, ConfigArgs), String> {
    let has_compose = [
        "compose.yaml",
        "compose.yml",
        "docker-compose.yml",
        "docker-compose.yaml",
    ]
    .iter()
    .any(|f| case.join(f).is_file());
    let args_text = std::fs::read_to_string(case.join("args")).ok();
    if !has_compose && args_text.is_none() {
        return Err("malformed case: no compose file and no args file".into());
    }
    // The args line is the command line after `hoist`: global flags, `config`, its own flags
    // and services. No line means plain `hoist config`.
    let line = args_text.as_deref().unwrap_or("config");
    let argv = std::iter::once("hoist".to_string()).chain(split_words(line));
    let cli = Cli::try_parse_from(argv).map_err(|e| format!("malformed args: {e}"))?;
    let Command::Config(parsed) = cli.command else {
        return Err("malformed args: not a config command".into());
    };

    let mut process_env = hoist::compose::discover::Environment::new();
    process_env.insert("HOME".into(), "/home/user".into());
    if let Ok(text) = std::fs::read_to_string(case.join("process.env")) {
        for line in text
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        {
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| format!("malformed process.env line {line:?}"))?;
            process_env.insert(k.to_string(), v.to_string());
        }
    }
    let mut opts = LoadOptions {
        interpolate: !parsed.no_interpolate,
        working_dir: case.to_path_buf(),
        process_env,
        ..LoadOptions::default()
    };
    apply_global(&mut opts, &cli.global, &parsed.services);
    let args = ConfigArgs {
        format: "yaml".into(),
        services: parsed.services.clone(),
        no_interpolate: parsed.no_interpolate,
        ..ConfigArgs::default()
    };
    Ok((opts, args))
}

/// Loads a case, turning a panic into an error message naming it.
fn load_case(opts: &LoadOptions) -> Result<Result<Loaded, LoadError>, String> {
    catch_unwind(AssertUnwindSafe(|| load(opts))).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        format!("the loader panicked: {msg}")
    })
}

/// The case directory becomes `$PROJECT` and its parent `$PROJECT/..` (for `../x` paths).
fn machine_independent(text: &str, case: &Path) -> String {
    let text = text.replace(&case.display().to_string(), "$PROJECT");
    match case.parent() {
        Some(parent) => text.replace(&parent.display().to_string(), "$PROJECT/.."),
        None => text,
    }
}

/// Runs `check` on every case of `kind`, reporting all failures at once.
fn run_cases(kind: &str, check: fn(&Path, &str) -> Result<(), String>) {
    let all = cases(kind);
    assert!(!all.is_empty(), "no cases under tests/fixtures/{kind}");
    let mut failures = Vec::new();
    for (name, case) in &all {
        match catch_unwind(AssertUnwindSafe(|| check(case, name))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(format!("{kind}/{name}: {e}")),
            Err(_) => failures.push(format!("{kind}/{name}: snapshot mismatch (see above)")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn snapshot(name: &str, text: &str) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.bind(|| insta::assert_snapshot!(name.to_string(), text));
}

fn check_config(case: &Path, name: &str) -> Result<(), String> {
    let (opts, args) = options(case)?;
    let loaded = load_case(&opts)?.map_err(|e| format!("loading failed: {e}"))?;
    let yaml = render(&loaded, &args).map_err(|e| format!("rendering failed: {e}"))?;
    let mut text = String::new();
    if !loaded.warnings.is_empty() {
        text.push_str("# warnings:\n");
        for w in &loaded.warnings {
            text.push_str(&format!("# WARN {w}\n"));
        }
    }
    text.push_str(&yaml);
    snapshot(
        &format!("config__{name}"),
        &machine_independent(&text, case),
    );
    Ok(())
}

fn check_error(case: &Path, name: &str) -> Result<(), String> {
    let (opts, _) = options(case)?;
    match load_case(&opts)? {
        Ok(_) => Err("loading succeeded but this case must fail".into()),
        Err(e) => {
            snapshot(
                &format!("error__{name}"),
                &machine_independent(&e.to_string(), case),
            );
            Ok(())
        }
    }
}

#[test]
fn config_output_of_every_fixture_project_matches_its_snapshot() {
    run_cases("config", check_config);
}

#[test]
fn every_invalid_fixture_project_fails_with_its_snapshotted_error() {
    run_cases("errors", check_error);
}

#[test]
fn args_lines_split_like_a_shell() {
    assert_eq!(
        split_words(r#"-p "My App" -f 'a b.yaml' web\ x"#),
        ["-p", "My App", "-f", "a b.yaml", "web x"]
    );
}
