//! The image configuration a build produces: what each Dockerfile instruction does to the
//! run defaults (`ENV`, `CMD`, `ENTRYPOINT`, `WORKDIR`, `USER`, `LABEL`, `EXPOSE`, `VOLUME`,
//! `HEALTHCHECK`, `SHELL`, `STOPSIGNAL`, `ONBUILD`, `MAINTAINER`) and the history entry it
//! leaves, with the semantics of BuildKit's dockerfile dispatcher, so an image hoist builds
//! runs as the one Docker builds from the same file.
//!
//! Not for: filesystem changes (`RUN`, `COPY`, `ADD`, the directory `WORKDIR` creates) nor
//! substitution (the steps come in already expanded, see [`super::dockerfile::expand`]).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::build::dockerfile::{CommandLine, Healthcheck, Instruction};
use crate::runtime::native::oci::{HealthConfig, History, ImageConfig};

/// The shell of shell-form instructions when the image sets none.
pub const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// What BuildKit writes as each history entry's comment.
const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// One stage's image configuration while its instructions are applied.
#[derive(Debug, Clone)]
pub struct StageConfig {
    pub image: ImageConfig,
    /// Whether this stage set `CMD`: an `ENTRYPOINT` resets a `CMD` inherited from the
    /// base image, never one the stage set itself.
    cmd_set: bool,
}

/// A metadata instruction that cannot be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl StageConfig {
    /// Starts a stage from its base image's configuration (empty for `scratch`). The base
    /// image's `ONBUILD` triggers are the caller's to run first; they are not inherited.
    pub fn from_base(mut base: ImageConfig) -> StageConfig {
        base.config.on_build = None;
        StageConfig {
            image: base,
            cmd_set: false,
        }
    }

    /// The shell shell-form commands run through.
    pub fn shell(&self) -> Vec<String> {
        self.image
            .config
            .shell
            .clone()
            .unwrap_or_else(|| DEFAULT_SHELL.iter().map(|s| s.to_string()).collect())
    }

    /// The argv of a `RUN`, `CMD` or `ENTRYPOINT` command line.
    pub fn argv(&self, command: &CommandLine) -> Vec<String> {
        match command {
            CommandLine::Exec(args) => args.clone(),
            CommandLine::Shell(line) => {
                let mut argv = self.shell();
                argv.push(line.clone());
                argv
            }
        }
    }

    /// The argv of a `RUN`, as BuildKit makes it when the command names heredocs: a command
    /// that is only one heredoc runs its body as a script (with the shell, or through its
    /// `#!` line: then the body is the file returned, to run at `/dev/pipes/<name>`);
    /// otherwise each body follows the command line, so the shell reads the heredocs. The
    /// shell expands variables in the bodies, not the builder.
    pub fn run_argv(
        &self,
        run: &super::dockerfile::Run,
    ) -> (Vec<String>, Option<(String, String)>) {
        let CommandLine::Shell(line) = &run.command else {
            return (self.argv(&run.command), None);
        };
        if let [doc] = run.heredocs.as_slice() {
            let only = line
                .trim()
                .strip_prefix("<<")
                .map(|rest| rest.strip_prefix('-').unwrap_or(rest))
                .map(|rest| rest.trim_matches(|c| c == '"' || c == '\''));
            if only == Some(doc.name.as_str()) {
                if doc.content.starts_with("#!") {
                    return (
                        vec![format!("/dev/pipes/{}", doc.name)],
                        Some((doc.name.clone(), doc.content.clone())),
                    );
                }
                let mut argv = self.shell();
                argv.push(doc.content.clone());
                return (argv, None);
            }
        }
        let mut script = line.clone();
        for doc in &run.heredocs {
            script.push('\n');
            script.push_str(&doc.content);
            script.push_str(&doc.name);
        }
        let mut argv = self.shell();
        argv.push(script);
        (argv, None)
    }

    /// The environment as a list of `KEY=value`.
    pub fn env(&self) -> &[String] {
        self.image.config.env.as_deref().unwrap_or_default()
    }

    /// Sets (or replaces) `key` in the environment, keeping its position.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let env = self.image.config.env.get_or_insert_with(Vec::new);
        let entry = format!("{key}={value}");
        match env
            .iter_mut()
            .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
        {
            Some(slot) => *slot = entry,
            None => env.push(entry),
        }
    }

    /// The working directory `WORKDIR path` leads to: relative paths join the current one.
    pub fn resolve_workdir(&self, path: &str) -> String {
        let current = self.image.config.working_dir.as_deref().unwrap_or("/");
        let joined = if path.starts_with('/') {
            path.to_string()
        } else {
            format!("{}/{path}", current.trim_end_matches('/'))
        };
        clean_path(&joined)
    }

    /// Applies a metadata instruction. Returns false for instructions that change the
    /// filesystem or nothing at all (`RUN`, `COPY`, `ADD`, `ARG`), which are the builder's.
    pub fn apply(&mut self, instruction: &Instruction) -> Result<bool, ConfigError> {
        let config = &mut self.image.config;
        match instruction {
            Instruction::Env(pairs) => {
                for kv in pairs {
                    self.set_env(&kv.key, &kv.value);
                }
            }
            Instruction::Cmd(command) => {
                let argv = self.argv(command);
                self.image.config.cmd = Some(argv);
                self.cmd_set = true;
            }
            Instruction::Entrypoint(command) => {
                let argv = self.argv(command);
                self.image.config.entrypoint = Some(argv);
                if !self.cmd_set {
                    self.image.config.cmd = None;
                }
            }
            Instruction::Workdir(path) => {
                let dir = self.resolve_workdir(path);
                self.image.config.working_dir = Some(dir);
            }
            Instruction::User(user) => config.user = Some(user.clone()),
            Instruction::Label(pairs) => {
                let labels = config.labels.get_or_insert_with(BTreeMap::new);
                for kv in pairs {
                    labels.insert(kv.key.clone(), kv.value.clone());
                }
            }
            Instruction::Expose(ports) => {
                let exposed = config.exposed_ports.get_or_insert_with(BTreeMap::new);
                for port in ports {
                    for key in expose_keys(port)? {
                        exposed.insert(key, serde_json::json!({}));
                    }
                }
            }
            Instruction::Volume(paths) => {
                let volumes = config.volumes.get_or_insert_with(BTreeMap::new);
                for path in paths {
                    if path.trim().is_empty() {
                        return Err(ConfigError(
                            "VOLUME specified can not be an empty string".into(),
                        ));
                    }
                    volumes.insert(path.clone(), serde_json::json!({}));
                }
            }
            Instruction::StopSignal(signal) => {
                if !is_signal(signal) {
                    return Err(ConfigError(format!("invalid STOPSIGNAL \"{signal}\": expected a signal name (SIGTERM) or number")));
                }
                config.stop_signal = Some(signal.clone());
            }
            Instruction::Shell(shell) => {
                if shell.is_empty() {
                    return Err(ConfigError("SHELL requires at least one argument, in JSON form: SHELL [\"/bin/bash\", \"-c\"]".into()));
                }
                config.shell = Some(shell.clone());
            }
            Instruction::Healthcheck(check) => config.healthcheck = Some(health_config(check)),
            Instruction::Onbuild(step) => {
                let trigger = step
                    .text
                    .trim_start()
                    .strip_prefix("ONBUILD")
                    .or_else(|| step.text.trim_start().strip_prefix("onbuild"))
                    .map_or(step.text.as_str(), str::trim_start);
                config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(trigger.to_string());
            }
            Instruction::Maintainer(name) => self.image.author = Some(name.clone()),
            Instruction::From(_)
            | Instruction::Run(_)
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::Arg(_) => return Ok(false),
        }
        Ok(true)
    }

    /// Records a history entry for a step; `layer` says whether it produced a layer.
    pub fn record(&mut self, created_by: String, layer: bool, created: Option<String>) {
        self.image.history.push(History {
            created,
            created_by: Some(created_by),
            comment: Some(HISTORY_COMMENT.to_string()),
            empty_layer: !layer,
        });
    }
}

/// The `created_by` BuildKit records: `RUN`, `COPY` and `ADD` as they ran, with a
/// `# buildkit` suffix; other instructions as written after substitution.
pub fn created_by(instruction: &Instruction, text: &str, run_argv: Option<&[String]>) -> String {
    match (instruction, run_argv) {
        (Instruction::Run(_), Some(argv)) => format!("RUN {} # buildkit", argv.join(" ")),
        (Instruction::Copy(_) | Instruction::Add(_), _) => format!("{} # buildkit", text.trim()),
        _ => text.trim().to_string(),
    }
}

/// Docker's `HEALTHCHECK` in the image config: durations in nanoseconds.
fn health_config(check: &Healthcheck) -> HealthConfig {
    let nanos = |d: &Option<Duration>| d.map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
    match check {
        Healthcheck::None => HealthConfig {
            test: vec!["NONE".to_string()],
            ..HealthConfig::default()
        },
        Healthcheck::Check {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => HealthConfig {
            test: match command {
                CommandLine::Exec(args) => std::iter::once("CMD".to_string())
                    .chain(args.iter().cloned())
                    .collect(),
                CommandLine::Shell(line) => vec!["CMD-SHELL".to_string(), line.clone()],
            },
            interval: nanos(interval),
            timeout: nanos(timeout),
            start_period: nanos(start_period),
            start_interval: nanos(start_interval),
            retries: retries.map(i64::from),
        },
    }
}

/// The `ExposedPorts` keys of one `EXPOSE` word: `80` -> `80/tcp`, `53/udp`, and a range
/// `8000-8002/tcp` -> one key per port, as Docker's `nat.ParsePortSpecs` does.
fn expose_keys(word: &str) -> Result<Vec<String>, ConfigError> {
    let invalid = || {
        ConfigError(format!(
            "invalid EXPOSE \"{word}\": expected PORT[/PROTOCOL] or START-END[/PROTOCOL]"
        ))
    };
    let (ports, proto) = word.split_once('/').unwrap_or((word, "tcp"));
    let proto = proto.to_ascii_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(invalid());
    }
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
    let (start, end) = match ports.split_once('-') {
        Some((a, b)) => (port(a).ok_or_else(invalid)?, port(b).ok_or_else(invalid)?),
        None => {
            let p = port(ports).ok_or_else(invalid)?;
            (p, p)
        }
    };
    if end < start {
        return Err(invalid());
    }
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

/// A signal name (`SIGTERM`, `TERM`, `SIGRTMIN+3`) or number.
fn is_signal(s: &str) -> bool {
    crate::runtime::signal_number(s).is_some()
}

/// Go's `path.Clean` for absolute `/`-separated paths.
pub fn clean_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::dockerfile::expand::{expand_stages, BuildOptions};
    use crate::build::dockerfile::parse;

    /// The configuration of `dockerfile`'s last stage on an empty (`scratch`) base.
    fn config_of(dockerfile: &str, base: ImageConfig) -> Result<StageConfig, ConfigError> {
        let df = parse(dockerfile).expect("parses");
        // The base image's ENV takes part in substitution, as in Docker.
        let base_env: Vec<(String, String)> = base
            .config
            .env
            .iter()
            .flatten()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let stages =
            expand_stages(&df, &BuildOptions::host(), |_| base_env.clone()).expect("expands");
        let stage = stages.last().expect("a stage");
        let mut config = StageConfig::from_base(base);
        for step in &stage.steps {
            config.apply(&step.instruction)?;
        }
        Ok(config)
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn shell_and_exec_forms_follow_the_shell_instruction() {
        let c = config_of(
            "FROM scratch\nCMD echo hi\nSHELL [\"/bin/bash\", \"-lc\"]\nENTRYPOINT run.sh --now\nCMD [\"a\", \"b\"]\n",
            ImageConfig::default(),
        )
        .unwrap();
        assert_eq!(
            c.image.config.entrypoint,
            Some(strings(&["/bin/bash", "-lc", "run.sh --now"]))
        );
        assert_eq!(c.image.config.cmd, Some(strings(&["a", "b"])));
        assert_eq!(c.image.config.shell, Some(strings(&["/bin/bash", "-lc"])));
    }

    #[test]
    fn entrypoint_resets_only_an_inherited_cmd() {
        let mut base = ImageConfig::default();
        base.config.cmd = Some(strings(&["nginx", "-g", "daemon off;"]));
        let c = config_of("FROM scratch\nENTRYPOINT [\"/entry\"]\n", base.clone()).unwrap();
        assert_eq!(c.image.config.cmd, None, "inherited CMD is reset");
        let c = config_of(
            "FROM scratch\nCMD [\"own\"]\nENTRYPOINT [\"/entry\"]\n",
            base,
        )
        .unwrap();
        assert_eq!(
            c.image.config.cmd,
            Some(strings(&["own"])),
            "the stage's own CMD stays"
        );
    }

    #[test]
    fn env_replaces_in_place_and_workdir_joins_relative_paths() {
        let mut base = ImageConfig::default();
        base.config.env = Some(strings(&["PATH=/usr/bin", "A=1"]));
        let c = config_of(
            "FROM base\nENV A=2 B=\"x y\"\nENV PATH=/opt/bin:$PATH\nWORKDIR app\nWORKDIR ../srv/./www\nWORKDIR sub\n",
            base,
        )
        .unwrap();
        assert_eq!(c.env(), ["PATH=/opt/bin:/usr/bin", "A=2", "B=x y"]);
        assert_eq!(c.image.config.working_dir.as_deref(), Some("/srv/www/sub"));
    }

    #[test]
    fn labels_ports_volumes_user_and_stop_signal() {
        let c = config_of(
            "FROM scratch\nLABEL a=1 \"b c\"=2\nLABEL a=3\nEXPOSE 80 53/udp 8000-8002\nVOLUME /data /logs\nVOLUME [\"/cache\"]\nUSER app:app\nSTOPSIGNAL SIGQUIT\nMAINTAINER someone\n",
            ImageConfig::default(),
        );
        let c = c.unwrap();
        let cfg = &c.image.config;
        let labels = cfg.labels.clone().unwrap();
        assert_eq!(labels.get("a").map(String::as_str), Some("3"));
        assert_eq!(labels.get("b c").map(String::as_str), Some("2"));
        let ports: Vec<&String> = cfg.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(
            ports,
            ["53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
        let volumes: Vec<&String> = cfg.volumes.as_ref().unwrap().keys().collect();
        assert_eq!(volumes, ["/cache", "/data", "/logs"]);
        assert_eq!(cfg.user.as_deref(), Some("app:app"));
        assert_eq!(cfg.stop_signal.as_deref(), Some("SIGQUIT"));
        assert_eq!(c.image.author.as_deref(), Some("someone"));
    }

    #[test]
    fn healthcheck_forms_are_docker_s() {
        let c = config_of(
            "FROM scratch\nHEALTHCHECK --interval=5s --retries=2 CMD curl -f http://localhost/\n",
            ImageConfig::default(),
        )
        .unwrap();
        let h = c.image.config.healthcheck.unwrap();
        assert_eq!(h.test, strings(&["CMD-SHELL", "curl -f http://localhost/"]));
        assert_eq!(h.interval, Some(5_000_000_000));
        assert_eq!(h.retries, Some(2));
        let c = config_of(
            "FROM scratch\nHEALTHCHECK CMD [\"/ok\"]\nHEALTHCHECK NONE\n",
            ImageConfig::default(),
        )
        .unwrap();
        assert_eq!(c.image.config.healthcheck.unwrap().test, strings(&["NONE"]));
    }

    #[test]
    fn onbuild_triggers_are_kept_and_not_inherited() {
        let mut base = ImageConfig::default();
        base.config.on_build = Some(strings(&["RUN from-base"]));
        let c = config_of(
            "FROM scratch\nONBUILD COPY . /app\nONBUILD RUN make\n",
            base,
        )
        .unwrap();
        assert_eq!(
            c.image.config.on_build,
            Some(strings(&["COPY . /app", "RUN make"]))
        );
    }

    #[test]
    fn bad_metadata_is_refused_with_what_to_write() {
        for (df, needle) in [
            ("FROM scratch\nEXPOSE 80/xyz\n", "EXPOSE \"80/xyz\""),
            ("FROM scratch\nEXPOSE 9000-8000\n", "START-END"),
            ("FROM scratch\nSTOPSIGNAL SIGNOPE\n", "STOPSIGNAL"),
        ] {
            let err = config_of(df, ImageConfig::default()).unwrap_err();
            assert!(err.0.contains(needle), "{df}: {err}");
        }
    }

    #[test]
    fn stop_signals_are_named_as_docker_accepts_them() {
        for ok in [
            "SIGTERM",
            "TERM",
            "sigquit",
            "9",
            "SIGRTMIN+3",
            "SIGRTMAX-1",
            "SIGRTMIN",
        ] {
            assert!(is_signal(ok), "{ok}");
        }
        for bad in ["SIGNOPE", "0", "65", "SIGRTMIN+40", "RTMAX+1", ""] {
            assert!(!is_signal(bad), "{bad}");
        }
    }

    #[test]
    fn created_by_matches_buildkit_for_layers() {
        let df = parse("FROM scratch\nRUN echo hi\nCOPY a /b\nENV X=1\n").unwrap();
        let stage = &df.stages[0];
        let config = StageConfig::from_base(ImageConfig::default());
        let run = &stage.instructions[0];
        let Instruction::Run(r) = &run.instruction else {
            panic!()
        };
        let argv = config.argv(&r.command);
        assert_eq!(
            created_by(&run.instruction, &run.text, Some(&argv)),
            "RUN /bin/sh -c echo hi # buildkit"
        );
        let copy = &stage.instructions[1];
        assert_eq!(
            created_by(&copy.instruction, &copy.text, None),
            "COPY a /b # buildkit"
        );
        let env = &stage.instructions[2];
        assert_eq!(created_by(&env.instruction, &env.text, None), "ENV X=1");
    }
}
