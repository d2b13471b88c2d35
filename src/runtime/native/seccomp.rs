//! Seccomp for native containers, as Docker applies it: which profile a container gets
//! (`security_opt: seccomp=...`, `privileged`), and the conversion of a profile in Docker's
//! format (`defaultAction`, `archMap`, syscall groups with `includes`/`excludes`) into the
//! OCI `linux.seccomp` libcontainer loads, filtered for the host architecture, the kernel
//! and the container's capabilities the way moby's `profiles/seccomp` `setupSeccomp` does.
//!
//! [`load`] compiles the result to BPF once and loads it in the container's init and in
//! every `exec`'d process, instead of libcontainer building it again for each.

mod load;

pub use load::{compile, exec_loader, launch_bundle, write_launch_bundle, Compiled, Loader};

use oci_spec::runtime::LinuxSeccomp;
use serde::Deserialize;
use serde_json::{json, Value};

/// Docker's default profile: moby `profiles/seccomp/default.json`, taken verbatim from
/// github.com/moby/moby at commit 00f3d189e420d485e42d15fe494f96d272284e0e.
pub const DEFAULT_PROFILE: &str = include_str!("seccomp/default.json");

/// The profile a container runs under, from its `security_opt` and `privileged`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Docker's default profile.
    Default,
    /// No filter (`seccomp=unconfined`, or `privileged: true`).
    Unconfined,
    /// A profile in Docker's format: the JSON text itself, as the Docker CLI and compose
    /// send it to the engine (`seccomp=<json>`, the file already read).
    Custom(String),
}

/// Docker's `security_opt` seccomp forms: `seccomp=unconfined`, `seccomp=builtin` (the
/// default profile) and `seccomp=<profile JSON>`; `seccomp:<...>` is the legacy spelling.
/// `privileged` disables seccomp whatever the options say, as in moby.
pub fn choice(security_opt: &[String], privileged: bool) -> Result<Choice, String> {
    let mut choice = Choice::Default;
    for opt in security_opt {
        let Some(value) = opt
            .strip_prefix("seccomp=")
            .or_else(|| opt.strip_prefix("seccomp:"))
        else {
            if opt == "seccomp" {
                return Err(format!(
                    "security_opt {opt:?}: give a value: seccomp=unconfined, seccomp=builtin \
                     or seccomp=<path to a profile JSON file>"
                ));
            }
            continue;
        };
        choice = match value.trim() {
            "unconfined" => Choice::Unconfined,
            "builtin" | "default" => Choice::Default,
            json if json.starts_with('{') => Choice::Custom(json.to_string()),
            other => {
                return Err(format!(
                    "security_opt \"seccomp={other}\": expected unconfined, builtin or a \
                     profile (a path to a JSON file in Docker's seccomp format, read when the \
                     container is created); is the file missing?"
                ))
            }
        };
    }
    Ok(if privileged {
        Choice::Unconfined
    } else {
        choice
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    #[serde(default)]
    default_action: String,
    #[serde(default)]
    default_errno_ret: Option<u32>,
    #[serde(default)]
    listener_path: Option<String>,
    #[serde(default)]
    listener_metadata: Option<String>,
    #[serde(default)]
    architectures: Option<Vec<String>>,
    #[serde(default)]
    arch_map: Option<Vec<ArchMap>>,
    #[serde(default)]
    flags: Option<Vec<String>>,
    #[serde(default)]
    syscalls: Option<Vec<SyscallGroup>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArchMap {
    architecture: String,
    #[serde(default)]
    sub_architectures: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SyscallGroup {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    names: Option<Vec<String>>,
    action: String,
    #[serde(default)]
    errno_ret: Option<u32>,
    #[serde(default)]
    args: Option<Vec<Value>>,
    #[serde(default)]
    includes: Option<Filter>,
    #[serde(default)]
    excludes: Option<Filter>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    #[serde(default)]
    arches: Option<Vec<String>>,
    #[serde(default)]
    caps: Option<Vec<String>>,
    #[serde(default)]
    min_kernel: Option<String>,
}

/// What a profile is filtered against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// libseccomp's name of the architecture (`amd64`, `arm64`, ...), as profiles spell
    /// it in `arches`.
    pub arch: String,
    /// The running kernel's `major.minor.patch`.
    pub kernel: (u64, u64, u64),
}

impl Host {
    /// This machine: the architecture hoist was built for and `uname -r`.
    pub fn current() -> Result<Host, String> {
        let release = nix::sys::utsname::uname()
            .map_err(|e| format!("cannot read the kernel version (uname): {e}"))?
            .release()
            .to_string_lossy()
            .into_owned();
        let kernel = parse_kernel(&release)
            .ok_or_else(|| format!("cannot parse the kernel version {release:?}"))?;
        Ok(Host {
            arch: native_arch().to_string(),
            kernel,
        })
    }
}

/// libseccomp's name of the architecture this binary runs on (moby's `goToNative`).
fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "x86",
        "x86_64" => "amd64",
        "arm" => "arm",
        "aarch64" => "arm64",
        "mips64" => "mips64",
        "powerpc" => "ppc",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// The `SCMP_ARCH_*` a profile's `archMap` lists for a libseccomp architecture name
/// (moby's `nativeToSeccomp`).
fn scmp_arch(arch: &str) -> Option<&'static str> {
    Some(match arch {
        "x86" => "SCMP_ARCH_X86",
        "amd64" => "SCMP_ARCH_X86_64",
        "arm" => "SCMP_ARCH_ARM",
        "arm64" => "SCMP_ARCH_AARCH64",
        "mips64" => "SCMP_ARCH_MIPS64",
        "mips64n32" => "SCMP_ARCH_MIPS64N32",
        "mipsel64" => "SCMP_ARCH_MIPSEL64",
        "mipsel64n32" => "SCMP_ARCH_MIPSEL64N32",
        "mipsle" => "SCMP_ARCH_MIPSEL",
        "ppc" => "SCMP_ARCH_PPC",
        "ppc64" => "SCMP_ARCH_PPC64",
        "ppc64le" => "SCMP_ARCH_PPC64LE",
        "s390" => "SCMP_ARCH_S390",
        "s390x" => "SCMP_ARCH_S390X",
        "riscv64" => "SCMP_ARCH_RISCV64",
        "loong64" => "SCMP_ARCH_LOONGARCH64",
        _ => return None,
    })
}

/// `major.minor[.patch][anything]` (`6.1.0-18-amd64`, a profile's `"4.8"`).
fn parse_kernel(release: &str) -> Option<(u64, u64, u64)> {
    let mut parts = release.splitn(3, '.');
    let number = |s: Option<&str>| -> Option<u64> {
        let s = s?;
        let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    };
    let major = number(parts.next())?;
    let minor = number(parts.next())?;
    let patch = number(parts.next()).unwrap_or(0);
    Some((major, minor, patch))
}

fn kernel_at_least(min: &str, host: &Host, group: usize) -> Result<bool, String> {
    let min = parse_kernel(min).ok_or_else(|| {
        format!("seccomp profile: syscalls[{group}]: minKernel {min:?} is not a kernel version like \"4.8\"")
    })?;
    Ok(host.kernel >= min)
}

/// The OCI `linux.seccomp` of `profile` (Docker's format) for a container whose bounding
/// capability set is `caps` on `host`; `None` when the profile disables seccomp (no
/// default action and no syscalls, as moby reads it).
pub fn linux_seccomp(profile: &str, caps: &[String], host: &Host) -> Result<Option<Value>, String> {
    let profile: Profile = serde_json::from_str(profile)
        .map_err(|e| format!("seccomp profile is not valid Docker seccomp JSON: {e}"))?;
    let groups = profile.syscalls.unwrap_or_default();
    if profile.default_action.is_empty() && groups.is_empty() {
        return Ok(None);
    }
    let architectures = profile.architectures.unwrap_or_default();
    let arch_map = profile.arch_map.unwrap_or_default();
    if !architectures.is_empty() && !arch_map.is_empty() {
        return Err(
            "seccomp profile: 'architectures' and 'archMap' were both given; use \
                    either 'architectures' or 'archMap'"
                .to_string(),
        );
    }
    let mut arches = architectures;
    if let Some(native) = scmp_arch(&host.arch) {
        if let Some(entry) = arch_map.iter().find(|a| a.architecture == native) {
            arches.push(entry.architecture.clone());
            arches.extend(entry.sub_architectures.iter().flatten().cloned());
        }
    }
    let has = |c: &String| caps.contains(c);
    let mut syscalls = Vec::new();
    for (i, group) in groups.into_iter().enumerate() {
        let excludes = group.excludes.unwrap_or_default();
        let includes = group.includes.unwrap_or_default();
        if excludes.arches.iter().flatten().any(|a| *a == host.arch)
            || excludes.caps.iter().flatten().any(has)
        {
            continue;
        }
        if let Some(min) = excludes.min_kernel.as_deref().filter(|m| !m.is_empty()) {
            if kernel_at_least(min, host, i)? {
                continue;
            }
        }
        if let Some(include_arches) = includes.arches.as_ref().filter(|a| !a.is_empty()) {
            if !include_arches.contains(&host.arch) {
                continue;
            }
        }
        if !includes.caps.iter().flatten().all(has) {
            continue;
        }
        if let Some(min) = includes.min_kernel.as_deref().filter(|m| !m.is_empty()) {
            if !kernel_at_least(min, host, i)? {
                continue;
            }
        }
        let names = match (group.name, group.names) {
            (Some(_), Some(names)) if !names.is_empty() => {
                return Err(format!(
                    "seccomp profile: syscalls[{i}]: 'name' and 'names' were both given; use \
                     either 'name' or 'names'"
                ))
            }
            (Some(name), _) if !name.is_empty() => vec![name],
            (_, names) => names.unwrap_or_default(),
        };
        let mut call = json!({"names": names, "action": group.action});
        if let Some(errno) = group.errno_ret {
            call["errnoRet"] = json!(errno);
        }
        if let Some(args) = group.args.filter(|a| !a.is_empty()) {
            call["args"] = json!(args);
        }
        syscalls.push(call);
    }
    let mut seccomp = json!({
        "defaultAction": profile.default_action,
        "architectures": arches,
        "syscalls": syscalls,
    });
    if let Some(errno) = profile.default_errno_ret {
        seccomp["defaultErrnoRet"] = json!(errno);
    }
    if let Some(flags) = profile.flags.filter(|f| !f.is_empty()) {
        seccomp["flags"] = json!(flags);
    }
    if let Some(path) = profile.listener_path.filter(|p| !p.is_empty()) {
        seccomp["listenerPath"] = json!(path);
    }
    if let Some(meta) = profile.listener_metadata.filter(|m| !m.is_empty()) {
        seccomp["listenerMetadata"] = json!(meta);
    }
    // Actions, operators and architectures are checked by the OCI types: a typo fails
    // here, at create, rather than in the container's init.
    serde_json::from_value::<LinuxSeccomp>(seccomp.clone())
        .map_err(|e| format!("seccomp profile: {e}"))?;
    Ok(Some(seccomp))
}

/// The `linux.seccomp` a container gets: `None` when unconfined.
pub fn for_container(
    security_opt: &[String],
    privileged: bool,
    caps: &[String],
) -> Result<Option<Value>, String> {
    match choice(security_opt, privileged)? {
        Choice::Unconfined => Ok(None),
        Choice::Default => default_for(caps),
        Choice::Custom(json) => linux_seccomp(&json, caps, &Host::current()?),
    }
}

/// The default profile for `caps` on this host, converted once per capability set and
/// process: `up` creates many containers, and most share the default set.
fn default_for(caps: &[String]) -> Result<Option<Value>, String> {
    type Converted = Vec<(Vec<String>, Option<Value>)>;
    static CONVERTED: std::sync::Mutex<Converted> = std::sync::Mutex::new(Vec::new());
    let mut converted = CONVERTED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, filter)) = converted.iter().find(|(c, _)| c == caps) {
        return Ok(filter.clone());
    }
    let filter = linux_seccomp(DEFAULT_PROFILE, caps, &Host::current()?)?;
    converted.push((caps.to_vec(), filter.clone()));
    Ok(filter)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn amd64(kernel: (u64, u64, u64)) -> Host {
        Host {
            arch: "amd64".to_string(),
            kernel,
        }
    }

    fn default_caps() -> Vec<String> {
        super::super::spec::capabilities(false, &[], &[]).unwrap()
    }

    fn names_with(seccomp: &Value, action: &str) -> Vec<String> {
        seccomp["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["action"] == action)
            .flat_map(|c| c["names"].as_array().unwrap().clone())
            .map(|n| n.as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn security_opt_forms_choose_the_profile() {
        assert_eq!(choice(&[], false).unwrap(), Choice::Default);
        let unconfined = strings(&["seccomp=unconfined"]);
        assert_eq!(choice(&unconfined, false).unwrap(), Choice::Unconfined);
        assert_eq!(
            choice(&strings(&["seccomp:builtin"]), false).unwrap(),
            Choice::Default
        );
        assert_eq!(choice(&[], true).unwrap(), Choice::Unconfined);
        assert_eq!(
            choice(&strings(&["no-new-privileges:true", "seccomp={}"]), false).unwrap(),
            Choice::Custom("{}".to_string())
        );
        let err = choice(&strings(&["seccomp=./nope.json"]), false).unwrap_err();
        assert!(
            err.contains("seccomp=./nope.json") && err.contains("unconfined"),
            "{err}"
        );
        assert!(choice(&strings(&["seccomp"]), false).is_err());
    }

    #[test]
    fn the_default_profile_is_filtered_like_moby_for_amd64_and_the_default_caps() {
        let s = linux_seccomp(DEFAULT_PROFILE, &default_caps(), &amd64((6, 1, 0)))
            .unwrap()
            .unwrap();
        assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(s["defaultErrnoRet"], 1);
        assert_eq!(
            s["architectures"],
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"])
        );
        let allowed = names_with(&s, "SCMP_ACT_ALLOW");
        for name in [
            "read",
            "arch_prctl",
            "modify_ldt",
            "ptrace",
            "chroot",
            "clone",
        ] {
            assert!(allowed.contains(&name.to_string()), "{name} allowed");
        }
        for name in [
            "mount",
            "unshare",
            "setns",
            "reboot",
            "open_by_handle_at",
            "set_tls",
        ] {
            assert!(!allowed.contains(&name.to_string()), "{name} not allowed");
        }
        // clone only without namespace flags; clone3 answers ENOSYS so libc falls back.
        let clone = s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["names"] == json!(["clone"]))
            .unwrap();
        assert_eq!(
            clone["args"],
            json!([{"index": 0, "value": 2114060288u64, "op": "SCMP_CMP_MASKED_EQ"}])
        );
        let clone3 = s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["names"] == json!(["clone3"]))
            .unwrap();
        assert_eq!(clone3["errnoRet"], 38);
        // ptrace needs 4.8 without CAP_SYS_PTRACE.
        let old = linux_seccomp(DEFAULT_PROFILE, &default_caps(), &amd64((4, 4, 0)))
            .unwrap()
            .unwrap();
        assert!(!names_with(&old, "SCMP_ACT_ALLOW").contains(&"ptrace".to_string()));
        serde_json::from_value::<LinuxSeccomp>(s).unwrap();
    }

    #[test]
    fn capabilities_open_their_syscalls_and_close_the_restricted_clone() {
        let mut caps = default_caps();
        caps.push("CAP_SYS_ADMIN".to_string());
        let s = linux_seccomp(DEFAULT_PROFILE, &caps, &amd64((6, 1, 0)))
            .unwrap()
            .unwrap();
        let allowed = names_with(&s, "SCMP_ACT_ALLOW");
        for name in ["mount", "unshare", "setns", "clone3"] {
            assert!(allowed.contains(&name.to_string()), "{name} allowed");
        }
        assert!(!s["syscalls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["names"] == json!(["clone3"]) && c["action"] == "SCMP_ACT_ERRNO"));
        // Dropping CAP_SYS_CHROOT closes chroot.
        let caps = super::super::spec::capabilities(false, &[], &strings(&["SYS_CHROOT"])).unwrap();
        let s = linux_seccomp(DEFAULT_PROFILE, &caps, &amd64((6, 1, 0)))
            .unwrap()
            .unwrap();
        assert!(!names_with(&s, "SCMP_ACT_ALLOW").contains(&"chroot".to_string()));
    }

    #[test]
    fn other_arches_get_their_own_groups() {
        let arm = Host {
            arch: "arm64".to_string(),
            kernel: (6, 1, 0),
        };
        let s = linux_seccomp(DEFAULT_PROFILE, &default_caps(), &arm)
            .unwrap()
            .unwrap();
        assert_eq!(
            s["architectures"],
            json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"])
        );
        let allowed = names_with(&s, "SCMP_ACT_ALLOW");
        assert!(allowed.contains(&"set_tls".to_string()));
        assert!(!allowed.contains(&"arch_prctl".to_string()));
    }

    #[test]
    fn custom_profiles_are_checked_with_clear_errors() {
        let host = amd64((6, 1, 0));
        assert_eq!(linux_seccomp("{}", &[], &host).unwrap(), None);
        let s = linux_seccomp(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],
                "syscalls":[{"name":"mkdir","action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
            &[],
            &host,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            s["syscalls"],
            json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}])
        );
        let err = linux_seccomp(r#"{"defaultAction":"SCMP_ACT_NOPE"}"#, &[], &host).unwrap_err();
        assert!(err.contains("SCMP_ACT_NOPE"), "{err}");
        let err = linux_seccomp("not json", &[], &host).unwrap_err();
        assert!(err.contains("not valid Docker seccomp JSON"), "{err}");
        let err = linux_seccomp(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
                "archMap":[{"architecture":"SCMP_ARCH_X86_64"}]}"#,
            &[],
            &host,
        )
        .unwrap_err();
        assert!(err.contains("archMap"), "{err}");
        let err = linux_seccomp(
            r#"{"defaultAction":"SCMP_ACT_ALLOW",
                "syscalls":[{"name":"a","names":["b"],"action":"SCMP_ACT_ERRNO"}]}"#,
            &[],
            &host,
        )
        .unwrap_err();
        assert!(err.contains("syscalls[0]"), "{err}");
    }

    #[test]
    fn kernel_versions_parse_like_moby() {
        assert_eq!(parse_kernel("6.18.44-fc-v1045"), Some((6, 18, 44)));
        assert_eq!(parse_kernel("4.8"), Some((4, 8, 0)));
        assert_eq!(parse_kernel("5"), None);
    }
}
