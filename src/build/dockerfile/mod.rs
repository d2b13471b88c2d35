//! Dockerfiles: the text a user writes, parsed into a typed AST, and the variable
//! substitution the builder applies to it.
//!
//! [`parse`] follows BuildKit's dockerfile frontend (`parser/parser.go` and
//! `instructions/parse.go`): parser directives at the top, line continuations with the
//! escape character, comments, heredocs, exec vs shell form and per-instruction flags.
//! [`expand`] mirrors BuildKit's `shell/lex.go` and the ARG/ENV scoping of its dispatcher.
//!
//! Not for: I/O of any kind (reading the file, fetching images, running steps) — the
//! native builder does that with what this module returns.

pub mod expand;
mod parser;

use std::fmt;
use std::time::Duration;

pub use parser::parse;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives found at the top of the file (`syntax`, `escape`, `check`).
    pub directives: Directives,
    /// `ARG`s declared before the first `FROM`: usable only in `FROM` lines, and as the
    /// inherited default of an `ARG name` re-declared inside a stage.
    pub args_before_from: Vec<Step>,
    /// The build stages, in file order.
    pub stages: Vec<Stage>,
}

/// Parser directives (`# name=value` lines before anything else).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` — recorded; hoist always uses its own frontend.
    pub syntax: Option<String>,
    /// `# escape=` — `\` (default) or `` ` ``.
    pub escape: char,
    /// `# check=` — recorded, not interpreted.
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            escape: '\\',
            check: None,
        }
    }
}

/// One `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// `AS name`, lowercased as BuildKit does.
    pub name: Option<String>,
    /// The base image reference (or earlier stage name) before substitution.
    pub base: String,
    /// `--platform=` before substitution.
    pub platform: Option<String>,
    /// Line of the `FROM`.
    pub line: usize,
    /// The instructions after `FROM`.
    pub instructions: Vec<Step>,
}

/// An instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 1-based line of the instruction's first line.
    pub line: usize,
    /// The instruction as written, continuations joined (for progress output).
    pub text: String,
    pub instruction: Instruction,
}

/// Every Dockerfile instruction, with its arguments as written (before substitution).
///
/// `From` never appears in [`Stage::instructions`]: a `FROM` opens a [`Stage`] instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    From(From),
    Run(Run),
    Cmd(CommandLine),
    Entrypoint(CommandLine),
    Copy(CopyArgs),
    Add(CopyArgs),
    Env(Vec<KeyValue>),
    Arg(Vec<ArgDecl>),
    Workdir(String),
    User(String),
    Label(Vec<KeyValue>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    Healthcheck(Healthcheck),
    Shell(Vec<String>),
    StopSignal(String),
    /// A trigger stored for images built `FROM` this one; never expanded here.
    Onbuild(Box<Step>),
    Maintainer(String),
}

impl Instruction {
    /// The instruction keyword in upper case (`RUN`, `COPY`...).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From(_) => "FROM",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Copy(_) => "COPY",
            Instruction::Add(_) => "ADD",
            Instruction::Env(_) => "ENV",
            Instruction::Arg(_) => "ARG",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::User(_) => "USER",
            Instruction::Label(_) => "LABEL",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Volume(_) => "VOLUME",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// `FROM [--platform=p] image [AS name]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    pub image: String,
    pub name: Option<String>,
    pub platform: Option<String>,
}

/// A command in exec form (JSON array) or shell form (run through `SHELL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    Exec(Vec<String>),
    Shell(String),
}

/// `RUN [--mount=...] [--network=...] [--security=...] command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: CommandLine,
    /// `--mount=` values, raw (`type=cache,target=/root/.npm`).
    pub mounts: Vec<String>,
    pub network: Option<String>,
    pub security: Option<String>,
    /// Heredocs named on the command line, in order.
    pub heredocs: Vec<Heredoc>,
}

/// A here-document (`<<EOF` ... `EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter without quotes.
    pub name: String,
    /// The body, each line ending in `\n`; with `<<-` leading tabs are already stripped.
    pub content: String,
    /// False when the delimiter was quoted (`<<'EOF'`): the body is taken literally.
    pub expand: bool,
    /// `<<-`.
    pub chomp: bool,
}

/// A `COPY`/`ADD` source: a path (or URL / glob) or an inline heredoc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    Path(String),
    Heredoc(Heredoc),
}

/// Arguments of `COPY` and `ADD` (flags not valid for one are rejected by the parser).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyArgs {
    pub sources: Vec<CopySource>,
    pub dest: String,
    /// `--from=` (COPY only): a stage name, stage index or image.
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    /// `--parents` (COPY only).
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `--checksum=` (ADD only).
    pub checksum: Option<String>,
    /// `--keep-git-dir` (ADD only).
    pub keep_git_dir: bool,
}

/// `name=value` of `ENV` and `LABEL`; the value keeps its quotes until substitution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// One name of an `ARG` instruction, with its default if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD command`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Check {
        command: CommandLine,
        interval: Option<Duration>,
        timeout: Option<Duration>,
        start_period: Option<Duration>,
        start_interval: Option<Duration>,
        retries: Option<u32>,
    },
}

/// A Dockerfile that cannot be parsed or expanded, with the line at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerfileError {
    /// 1-based line; 0 when the problem concerns the whole file.
    pub line: usize,
    pub message: String,
}

impl DockerfileError {
    pub(crate) fn new(line: usize, message: impl Into<String>) -> Self {
        DockerfileError {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for DockerfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "Dockerfile: {}", self.message)
        } else {
            write!(f, "Dockerfile line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for DockerfileError {}
