//! `RUN --mount=...` as BuildKit reads it: `type=cache` (a directory that persists across
//! builds of this data root, by `id`, with `sharing=shared|private|locked`), `type=bind`
//! (a view of the build context or of another stage / named context / image, `from=`;
//! with `rw` the step may write to it, and what it writes is thrown away),
//! `type=tmpfs`, `type=secret` (a file or environment value from compose `build.secrets`,
//! shown as a file or, with `env=`, as an environment variable), and `type=ssh` (an agent
//! socket from compose `build.ssh`).
//!
//! Nothing a mount shows ends up in the step's layer; a bind mount's content is part of the
//! step's cache key (the builder hashes it), a cache mount's is not (as in BuildKit).
//!
//! Not for: creating the host side of a mount or running the step (the builder does).

/// How concurrent builds share one cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    /// Every build uses the same directory at once (the default).
    Shared,
    /// A build finding it in use gets a fresh directory of its own.
    Private,
    /// A build finding it in use waits for it.
    Locked,
}

/// One `--mount=` value, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunMount {
    Cache {
        target: String,
        /// The cache's identity; the target when not given.
        id: String,
        sharing: Sharing,
        read_only: bool,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    Bind {
        target: String,
        /// The path in the source (`/` = all of it).
        source: String,
        /// A stage, named context or image; `None` = the build context.
        from: Option<String>,
        /// `rw`: the step may write to it; its writes are thrown away after the step.
        writable: bool,
    },
    Tmpfs {
        target: String,
        size: Option<i64>,
    },
    Secret {
        id: String,
        target: String,
        /// Whether the secret is a file at `target` (not when only `env=` asks for it).
        file: bool,
        /// `env=`: the environment variable the step gets the value in.
        env: Option<String>,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    /// An SSH agent socket (`--mount=type=ssh`), from the build's `ssh` entry `id`.
    Ssh {
        id: String,
        /// `/run/buildkit/ssh_agent.<n>` unless given.
        target: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

impl RunMount {
    pub fn target(&self) -> &str {
        match self {
            RunMount::Cache { target, .. }
            | RunMount::Bind { target, .. }
            | RunMount::Tmpfs { target, .. }
            | RunMount::Secret { target, .. }
            | RunMount::Ssh { target, .. } => target,
        }
    }
}

/// Parses a `--mount=` value; `workdir` makes a relative target absolute; `ssh_index`
/// numbers the default target of an ssh mount (the how-manieth ssh mount of the step).
pub fn parse(value: &str, workdir: &str, ssh_index: usize) -> Result<RunMount, String> {
    let mut kind = "bind".to_string();
    let mut fields: Vec<(String, Option<String>)> = Vec::new();
    for part in value.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = match part.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim().to_string())),
            None => (part.trim().to_ascii_lowercase(), None),
        };
        if k == "type" {
            kind = v.unwrap_or_default();
        } else {
            fields.push((k, v));
        }
    }
    let bad = |what: String| format!("--mount={value}: {what}");
    let get = |names: &[&str]| {
        fields
            .iter()
            .rev()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.clone().unwrap_or_default())
    };
    let flag = |names: &[&str]| -> Result<bool, String> {
        match fields
            .iter()
            .rev()
            .find(|(k, _)| names.contains(&k.as_str()))
        {
            None => Ok(false),
            Some((_, None)) => Ok(true),
            Some((k, Some(v))) => match v.as_str() {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(bad(format!("{k}={v} is not a boolean"))),
            },
        }
    };
    let number = |name: &str, default: u32, radix: u32| -> Result<u32, String> {
        match get(&[name]) {
            None => Ok(default),
            Some(v) => u32::from_str_radix(&v, radix)
                .map_err(|_| bad(format!("{name}={v} is not a valid number"))),
        }
    };
    let known: &[&str] = match kind.as_str() {
        "cache" => &[
            "target",
            "dst",
            "destination",
            "id",
            "sharing",
            "readonly",
            "ro",
            "uid",
            "gid",
            "mode",
        ],
        "bind" => &[
            "target",
            "dst",
            "destination",
            "source",
            "src",
            "from",
            "readonly",
            "ro",
            "rw",
            "readwrite",
        ],
        "tmpfs" => &["target", "dst", "destination", "size"],
        "secret" => &[
            "id",
            "target",
            "dst",
            "destination",
            "required",
            "mode",
            "uid",
            "gid",
            "env",
        ],
        "ssh" => &[
            "id",
            "target",
            "dst",
            "destination",
            "required",
            "mode",
            "uid",
            "gid",
        ],
        other => {
            return Err(bad(format!(
                "unknown mount type {other:?} (expected bind, cache, tmpfs, secret or ssh)"
            )))
        }
    };
    if let Some((k, _)) = fields.iter().find(|(k, _)| !known.contains(&k.as_str())) {
        return Err(bad(format!("unknown option {k:?} for type={kind}")));
    }
    if get(&["from"]).is_some() && kind == "cache" {
        return Err(bad(
            "seeding a cache mount from a stage (from=) is not supported by the native builder"
                .into(),
        ));
    }
    let absolute = |t: String| {
        if t.starts_with('/') {
            crate::build::config::clean_path(&t)
        } else {
            crate::build::config::clean_path(&format!("{workdir}/{t}"))
        }
    };
    let target = get(&["target", "dst", "destination"]).filter(|t| !t.is_empty());
    Ok(match kind.as_str() {
        "cache" => {
            let target = absolute(target.ok_or_else(|| bad("a cache mount needs target=".into()))?);
            let sharing = match get(&["sharing"]).as_deref() {
                None | Some("shared") => Sharing::Shared,
                Some("private") => Sharing::Private,
                Some("locked") => Sharing::Locked,
                Some(other) => {
                    return Err(bad(format!(
                        "sharing={other} (expected shared, private or locked)"
                    )))
                }
            };
            RunMount::Cache {
                id: get(&["id"])
                    .filter(|i| !i.is_empty())
                    .unwrap_or_else(|| target.clone()),
                target,
                sharing,
                read_only: flag(&["readonly", "ro"])?,
                uid: number("uid", 0, 10)?,
                gid: number("gid", 0, 10)?,
                mode: number("mode", 0o755, 8)?,
            }
        }
        "bind" => RunMount::Bind {
            target: absolute(target.ok_or_else(|| bad("a bind mount needs target=".into()))?),
            source: get(&["source", "src"]).unwrap_or_else(|| "/".to_string()),
            from: get(&["from"]).filter(|f| !f.is_empty()),
            writable: flag(&["rw", "readwrite"])? && !flag(&["readonly", "ro"])?,
        },
        "ssh" => RunMount::Ssh {
            id: get(&["id"])
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| "default".to_string()),
            target: target
                .map(absolute)
                .unwrap_or_else(|| format!("/run/buildkit/ssh_agent.{ssh_index}")),
            required: flag(&["required"])?,
            mode: number("mode", 0o600, 8)?,
            uid: number("uid", 0, 10)?,
            gid: number("gid", 0, 10)?,
        },
        "tmpfs" => RunMount::Tmpfs {
            target: absolute(target.ok_or_else(|| bad("a tmpfs mount needs target=".into()))?),
            size: match get(&["size"]) {
                None => None,
                Some(v) => Some(
                    crate::compose::model::ByteSize::parse(&v)
                        .map_err(|_| bad(format!("size={v} is not a size")))?
                        .0,
                ),
            },
        },
        _ => {
            let id = get(&["id"]).filter(|i| !i.is_empty());
            let env = get(&["env"]).filter(|e| !e.is_empty());
            // With only `env=`, the secret is not a file (BuildKit's rule).
            let file = target.is_some() || env.is_none();
            let target = match (target, &id) {
                (Some(t), _) => absolute(t),
                (None, Some(id)) => format!("/run/secrets/{id}"),
                (None, None) => return Err(bad("a secret mount needs id= or target=".into())),
            };
            RunMount::Secret {
                id: id.unwrap_or_else(|| target.rsplit('/').next().unwrap_or_default().to_string()),
                target,
                file,
                env,
                required: flag(&["required"])?,
                mode: number("mode", 0o400, 8)?,
                uid: number("uid", 0, 10)?,
                gid: number("gid", 0, 10)?,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_values_parse_as_buildkit_reads_them() {
        assert_eq!(
            parse("type=cache,target=/root/.cache", "/", 0).unwrap(),
            RunMount::Cache {
                target: "/root/.cache".into(),
                id: "/root/.cache".into(),
                sharing: Sharing::Shared,
                read_only: false,
                uid: 0,
                gid: 0,
                mode: 0o755,
            }
        );
        assert_eq!(
            parse(
                "type=cache,id=npm,dst=cache,sharing=locked,uid=33,mode=0700",
                "/app",
                0
            )
            .unwrap(),
            RunMount::Cache {
                target: "/app/cache".into(),
                id: "npm".into(),
                sharing: Sharing::Locked,
                read_only: false,
                uid: 33,
                gid: 0,
                mode: 0o700,
            }
        );
        assert_eq!(
            parse("target=/src,from=build,source=/out", "/", 0).unwrap(),
            RunMount::Bind {
                target: "/src".into(),
                source: "/out".into(),
                from: Some("build".into()),
                writable: false,
            }
        );
        assert_eq!(
            parse("type=tmpfs,target=/t,size=1m", "/", 0).unwrap(),
            RunMount::Tmpfs {
                target: "/t".into(),
                size: Some(1024 * 1024),
            }
        );
        assert_eq!(
            parse("type=secret,id=token,required", "/", 0).unwrap(),
            RunMount::Secret {
                id: "token".into(),
                target: "/run/secrets/token".into(),
                file: true,
                env: None,
                required: true,
                mode: 0o400,
                uid: 0,
                gid: 0,
            }
        );
    }

    #[test]
    fn bad_mount_values_say_what_is_wrong() {
        let e = parse("type=cache", "/", 0).unwrap_err();
        assert!(e.contains("needs target="), "{e}");
        let e = parse("type=cache,target=/c,sharing=sometimes", "/", 0).unwrap_err();
        assert!(e.contains("sharing=sometimes"), "{e}");
        let e = parse("type=volume,target=/c", "/", 0).unwrap_err();
        assert!(e.contains("unknown mount type"), "{e}");
        let e = parse("type=bind,target=/c,colour=red", "/", 0).unwrap_err();
        assert!(e.contains("\"colour\""), "{e}");
        let e = parse("type=ssh,colour=red", "/", 0).unwrap_err();
        assert!(e.contains("\"colour\""), "{e}");
    }

    #[test]
    fn env_secrets_ssh_and_writable_binds_parse_as_buildkit_reads_them() {
        // `env=` alone: an environment variable, no file; with a target, both.
        let RunMount::Secret { file, env, .. } =
            parse("type=secret,id=tok,env=TOKEN", "/", 0).unwrap()
        else {
            panic!("not a secret")
        };
        assert!(!file);
        assert_eq!(env.as_deref(), Some("TOKEN"));
        let RunMount::Secret { file, target, .. } =
            parse("type=secret,id=tok,env=TOKEN,target=/t", "/", 0).unwrap()
        else {
            panic!("not a secret")
        };
        assert!(file);
        assert_eq!(target, "/t");
        assert_eq!(
            parse("type=ssh", "/", 1).unwrap(),
            RunMount::Ssh {
                id: "default".into(),
                target: "/run/buildkit/ssh_agent.1".into(),
                required: false,
                mode: 0o600,
                uid: 0,
                gid: 0,
            }
        );
        let RunMount::Bind { writable, .. } = parse("type=bind,target=/s,rw", "/", 0).unwrap()
        else {
            panic!("not a bind")
        };
        assert!(writable);
    }
}
