//! Loading a container's seccomp filter without paying libseccomp on every start.
//!
//! libcontainer builds the filter from the OCI rules in the container's init, every time:
//! for Docker's default profile (~400 syscalls on three architectures) libseccomp's rule
//! database and BPF generation cost 10-15 ms per container start and per `exec`. The
//! program it generates depends only on the rules (already filtered for the host's
//! architecture, kernel and the container's capabilities) and on libseccomp's version, so
//! hoist compiles it once, keeps it under the data root keyed by both, and loads the
//! program itself with `seccomp(2)` right before the container's `execve`.
//!
//! Loading needs no_new_privs or `CAP_SYS_ADMIN`, and libcontainer's executor hook runs
//! after the capabilities are dropped. So the container is handed to libcontainer with
//! [`LOADING_CAPS`] on top of its own set (a bundle of its own, [`LAUNCH_DIR`]), and
//! [`Loader`] loads the filter, drops those capabilities from every set, then execs as
//! libcontainer's default executor does: the process ends with exactly the container's
//! capabilities and filter, as under runc. Every container and exec goes through [`Loader`],
//! filter or not: it also resets the signal dispositions the process would inherit.
//!
//! Not for: which rules a container gets (the parent module).

use std::collections::HashSet;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use libcontainer::workload::{
    Executor, ExecutorError, ExecutorSetEnvsError, ExecutorValidationError,
};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, Capability, LinuxCapabilities, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag,
    LinuxSeccompOperator, Spec,
};
use sha2::{Digest, Sha256};

/// The directory, inside a container's, of the bundle libcontainer is given when hoist
/// loads the filter: the runtime spec without `linux.seccomp` and with [`LOADING_CAPS`],
/// and the compiled filter ([`FILTER_FILE`]).
pub const LAUNCH_DIR: &str = "launch";
const FILTER_FILE: &str = "seccomp.bpf";

/// Capabilities a container's process holds only until its filter is loaded:
/// `CAP_SYS_ADMIN` lets a process without no_new_privs install a filter, `CAP_SETPCAP`
/// lets it drop both from its bounding set again.
const LOADING_CAPS: [(Capability, &str); 2] = [
    (Capability::SysAdmin, "CAP_SYS_ADMIN"),
    (Capability::Setpcap, "CAP_SETPCAP"),
];

const MAGIC: &[u8; 8] = b"HOISTBPF";
/// magic, flags (u32), extra capabilities (u32 bit set of [`LOADING_CAPS`]), program
/// length (u32), SHA-256 of the program.
const HEADER: usize = 8 + 4 + 4 + 4 + 32;

/// A filter as the kernel loads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compiled {
    /// `SECCOMP_FILTER_FLAG_*` bits to load it with.
    flags: u32,
    /// `struct sock_filter` entries, 8 bytes each, in host byte order.
    program: Vec<u8>,
}

impl Compiled {
    /// The filter's file: [`HEADER`] then the program; `extra` is the bit set of
    /// [`LOADING_CAPS`] to drop after loading.
    fn to_bytes(&self, extra: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.program.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.flags.to_le_bytes());
        out.extend_from_slice(&extra.to_le_bytes());
        out.extend_from_slice(&(self.program.len() as u32).to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&self.program));
        out.extend_from_slice(&self.program);
        out
    }

    /// Reads [`Compiled::to_bytes`]; `None` for anything torn, truncated or altered.
    fn from_bytes(bytes: &[u8]) -> Option<(Compiled, u32)> {
        let header = bytes.get(..HEADER)?;
        let word = |at: usize| u32::from_le_bytes(header[at..at + 4].try_into().unwrap());
        if &header[..8] != MAGIC {
            return None;
        }
        let (flags, extra, len) = (word(8), word(12), word(16) as usize);
        let program = bytes.get(HEADER..)?;
        if program.len() != len
            || len == 0
            || len % 8 != 0
            || Sha256::digest(program)[..] != header[20..52]
        {
            return None;
        }
        let compiled = Compiled {
            flags,
            program: program.to_vec(),
        };
        Some((compiled, extra))
    }

    /// Installs the filter on the calling thread.
    fn load(&self) -> std::io::Result<()> {
        let len = u16::try_from(self.program.len() / 8).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "filter too long")
        })?;
        let prog = libc::sock_fprog {
            len,
            // The kernel copies the program; it never writes through this pointer.
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: `prog` points at `len` 8-byte instructions that live across the call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

fn arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// libcontainer's reading of an action (its `translate_action`): the errno defaults to
/// `EPERM`.
fn action(action: LinuxSeccompAction, errno: Option<u32>) -> Result<ScmpAction, String> {
    let errno = errno.map(|e| e as i32).unwrap_or(libc::EPERM);
    Ok(match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(
            u16::try_from(errno).map_err(|_| format!("SCMP_ACT_TRACE errno {errno}"))?,
        ),
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
    })
}

fn compare(op: LinuxSeccompOperator, datum_b: Option<u64>) -> ScmpCompareOp {
    match op {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        LinuxSeccompOperator::ScmpCmpMaskedEq => ScmpCompareOp::MaskedEqual(datum_b.unwrap_or(0)),
    }
}

/// Whether hoist can load `seccomp` itself: not when it notifies a listener (the listener
/// handshake is libcontainer's).
pub fn loadable(seccomp: &LinuxSeccomp) -> bool {
    !libcontainer::seccomp::is_notify(seccomp)
        && seccomp.default_action() != LinuxSeccompAction::ScmpActNotify
}

/// The program libseccomp generates for `seccomp`, rule for rule as libcontainer 0.7's
/// `initialize_seccomp` feeds it: a rule whose action is the default is skipped, a
/// syscall this libseccomp does not know is skipped, several comparisons of one argument
/// become separate rules (runc's reading of `seccomp_rule_add(3)`).
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Compiled, String> {
    let fail = |what: &str, e: libseccomp::error::SeccompError| format!("seccomp: {what}: {e}");
    let default = action(seccomp.default_action(), seccomp.default_errno_ret())?;
    let mut ctx =
        ScmpFilterContext::new(default).map_err(|e| fail("cannot create the filter", e))?;
    let mut flags = 0u32;
    for flag in seccomp.flags().iter().flatten() {
        let (set, bit) = match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => {
                (ctx.set_ctl_log(true).map(drop), 1 << 1)
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {
                (ctx.set_ctl_tsync(true).map(drop), 1 << 0)
            }
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                (ctx.set_ctl_ssb(true).map(drop), 1 << 2)
            }
            // Only meaningful with a listener, which goes through libcontainer.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => (Ok(()), 0),
        };
        set.map_err(|e| fail(&format!("flag {flag:?}"), e))?;
        flags |= bit;
    }
    for &a in seccomp.architectures().iter().flatten() {
        ctx.add_arch(arch(a))
            .map_err(|e| fail(&format!("architecture {a:?}"), e))?;
    }
    ctx.set_ctl_nnp(false)
        .map_err(|e| fail("SCMP_FLTATR_CTL_NNP", e))?;
    for rule in seccomp.syscalls().iter().flatten() {
        let act = action(rule.action(), rule.errno_ret())?;
        if act == default {
            continue;
        }
        let comparators: Vec<ScmpArgCompare> = rule
            .args()
            .iter()
            .flatten()
            .map(|a| {
                ScmpArgCompare::new(a.index() as u32, compare(a.op(), a.value_two()), a.value())
            })
            .collect();
        let mut seen = HashSet::new();
        let separate = !rule.args().iter().flatten().all(|a| seen.insert(a.index()));
        for name in rule.names() {
            let Ok(call) = ScmpSyscall::from_name(name) else {
                continue;
            };
            let added = if comparators.is_empty() {
                ctx.add_rule(act, call).map(drop)
            } else if separate {
                comparators.iter().try_for_each(|c| {
                    ctx.add_rule_conditional(act, call, std::slice::from_ref(c))
                        .map(drop)
                })
            } else {
                ctx.add_rule_conditional(act, call, &comparators).map(drop)
            };
            added.map_err(|e| fail(&format!("rule for {name}"), e))?;
        }
    }
    // libseccomp 2.5 (Debian 12) has no seccomp_export_bpf_mem: export through a memfd.
    // SAFETY: a plain syscall; the fd is owned right after.
    let fd = unsafe { libc::memfd_create(c"hoist-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!(
            "seccomp: memfd_create: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: `fd` was just created and is owned by nothing else.
    let mut file = fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    ctx.export_bpf(&file)
        .map_err(|e| fail("cannot generate the program", e))?;
    let mut program = Vec::new();
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut program))
        .map_err(|e| format!("seccomp: cannot read the generated program: {e}"))?;
    if program.is_empty() || program.len() % 8 != 0 {
        return Err(format!(
            "seccomp: libseccomp generated {} bytes",
            program.len()
        ));
    }
    Ok(Compiled { flags, program })
}

/// The cache key of `seccomp`: its rules and the libseccomp that compiles them.
fn key(seccomp: &LinuxSeccomp) -> Result<String, String> {
    let version = libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default();
    let rules = serde_json::to_vec(seccomp).map_err(|e| format!("seccomp: {e}"))?;
    let mut hash = Sha256::new();
    hash.update(b"hoist seccomp 1\0");
    hash.update(version.as_bytes());
    hash.update(b"\0");
    hash.update(&rules);
    Ok(format!("{:x}", hash.finalize()))
}

/// [`compile`], once per machine: kept in this process and under `root`'s cache, so
/// `run --rm` pays libseccomp once, not every time.
pub fn compiled(root: &Path, seccomp: &LinuxSeccomp) -> Result<Arc<Compiled>, String> {
    static KEPT: Mutex<Vec<(String, Arc<Compiled>)>> = Mutex::new(Vec::new());
    let key = key(seccomp)?;
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, c)) = kept.iter().find(|(k, _)| *k == key) {
        return Ok(c.clone());
    }
    let dir = root.join("cache").join("seccomp");
    let path = dir.join(format!("{key}.bpf"));
    let compiled = match fs::read(&path).ok().and_then(|b| Compiled::from_bytes(&b)) {
        Some((c, _)) => c,
        None => {
            let c = compile(seccomp)?;
            // Best effort: without the cache the next start compiles again.
            let tmp = dir.join(format!(".{key}.{}", std::process::id()));
            let _ = fs::create_dir_all(&dir)
                .and_then(|_| fs::write(&tmp, c.to_bytes(0)))
                .and_then(|_| fs::rename(&tmp, &path));
            let _ = fs::remove_file(&tmp);
            c
        }
    };
    let compiled = Arc::new(compiled);
    kept.push((key, compiled.clone()));
    Ok(compiled)
}

/// [`LOADING_CAPS`] as a bit set, those missing from `spec`'s bounding set; none when the
/// process has no_new_privs (then loading needs no capability).
fn extra_caps(spec: &Spec) -> u32 {
    let Some(process) = spec.process().as_ref() else {
        return 0;
    };
    if process.no_new_privileges() == Some(true) {
        return 0;
    }
    let bounding = process
        .capabilities()
        .as_ref()
        .and_then(|c| c.bounding().clone())
        .unwrap_or_default();
    LOADING_CAPS
        .iter()
        .enumerate()
        .filter(|(_, (c, _))| !bounding.contains(c))
        .fold(0, |bits, (i, _)| bits | 1 << i)
}

/// The [`LOADING_CAPS`] in bit set `extra`.
fn loading_caps_in(extra: u32) -> impl Iterator<Item = &'static (Capability, &'static str)> {
    LOADING_CAPS
        .iter()
        .enumerate()
        .filter(move |(i, _)| extra & 1 << i != 0)
        .map(|(_, cap)| cap)
}

/// Writes the bundle libcontainer starts container `dir` from when hoist loads its filter
/// ([`LAUNCH_DIR`]): `spec` without `linux.seccomp` and with the loading capabilities,
/// and the compiled filter. Nothing when `spec` has no filter, or one only libcontainer
/// can load.
pub fn write_launch_bundle(root: &Path, dir: &Path, spec: &Spec) -> Result<(), String> {
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().as_ref()) else {
        return Ok(());
    };
    if !loadable(seccomp) {
        return Ok(());
    }
    let compiled = compiled(root, seccomp)?;
    let extra = extra_caps(spec);
    let mut launch = spec.clone();
    if let Some(linux) = launch.linux_mut() {
        linux.set_seccomp(None);
    }
    if let Some(process) = launch.process_mut() {
        let Some(mut caps) = process.capabilities().clone() else {
            return Err("the runtime spec has no capabilities".to_string());
        };
        let with = |set: &Option<HashSet<Capability>>| {
            let mut set = set.clone().unwrap_or_default();
            set.extend(loading_caps_in(extra).map(|(c, _)| *c));
            Some(set)
        };
        let (b, e, p) = (
            with(caps.bounding()),
            with(caps.effective()),
            with(caps.permitted()),
        );
        caps.set_bounding(b).set_effective(e).set_permitted(p);
        process.set_capabilities(Some(caps));
    }
    let bundle = dir.join(LAUNCH_DIR);
    fs::create_dir_all(&bundle).map_err(|e| format!("cannot create {}: {e}", bundle.display()))?;
    let config = bundle.join("config.json");
    launch
        .save(&config)
        .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
    let filter = bundle.join(FILTER_FILE);
    fs::write(&filter, compiled.to_bytes(extra))
        .map_err(|e| format!("cannot write {}: {e}", filter.display()))
}

/// The bundle to start container `dir` from, and the executor that loads its filter:
/// [`LAUNCH_DIR`] when [`write_launch_bundle`] wrote one, else `dir` itself (no filter,
/// or libcontainer loads it).
pub fn launch_bundle(dir: &Path) -> Result<(PathBuf, Loader), String> {
    let bundle = dir.join(LAUNCH_DIR);
    let path = bundle.join(FILTER_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            let loader = Loader::from_bytes(&bytes)
                .ok_or_else(|| format!("{} is damaged; recreate the container", path.display()))?;
            Ok((bundle, loader))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Ok((dir.to_path_buf(), Loader::without_filter()))
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The executor that loads an `exec`'d process's filter in container `dir` (libcontainer's
/// tenant builder drops `linux.seccomp`), and the capabilities the tenant must be given
/// for it. A container created before hoist compiled filters has them in `config.json`.
pub fn exec_loader(root: &Path, dir: &Path) -> Result<Loader, String> {
    let (bundle, loader) = launch_bundle(dir)?;
    if bundle != dir {
        return Ok(loader);
    }
    let config = dir.join("config.json");
    let spec = Spec::load(&config).map_err(|e| format!("cannot read {}: {e}", config.display()))?;
    let Some(seccomp) = spec.linux().as_ref().and_then(|l| l.seccomp().clone()) else {
        return Ok(loader);
    };
    if !loadable(&seccomp) {
        return Err(
            "exec into a container whose seccomp profile notifies a listener is not \
             supported by the native backend"
                .to_string(),
        );
    }
    Ok(Loader {
        filter: Some(compiled(root, &seccomp)?),
        extra: extra_caps(&spec),
    })
}

/// libcontainer's default executor, with the process's signals put back as Docker starts
/// a container's and its filter (if any) loaded first: see the module docs.
#[derive(Clone)]
pub struct Loader {
    filter: Option<Arc<Compiled>>,
    /// Bit set of [`LOADING_CAPS`] to drop once the filter is in.
    extra: u32,
}

impl Loader {
    /// For a container without a filter (or one libcontainer loads).
    pub fn without_filter() -> Loader {
        Loader {
            filter: None,
            extra: 0,
        }
    }

    fn from_bytes(bytes: &[u8]) -> Option<Loader> {
        let (filter, extra) = Compiled::from_bytes(bytes)?;
        Some(Loader {
            filter: Some(Arc::new(filter)),
            extra,
        })
    }

    /// The capabilities the process must hold until its filter is loaded.
    pub fn loading_caps(&self) -> Vec<String> {
        loading_caps_in(self.extra)
            .map(|(_, name)| name.to_string())
            .collect()
    }

    fn drop_extra(&self, caps: &LinuxCapabilities) -> LinuxCapabilities {
        let extra: Vec<Capability> = loading_caps_in(self.extra).map(|(c, _)| *c).collect();
        let without = |set: &Option<HashSet<Capability>>| {
            set.as_ref()
                .map(|s| s.iter().filter(|c| !extra.contains(c)).copied().collect())
        };
        let mut out = caps.clone();
        out.set_bounding(without(caps.bounding()))
            .set_effective(without(caps.effective()))
            .set_permitted(without(caps.permitted()))
            .set_inheritable(without(caps.inheritable()))
            .set_ambient(without(caps.ambient()));
        out
    }
}

/// Every signal back to its default action and none blocked, as a process under Docker
/// starts. Otherwise an ignored signal survives `execve` from whoever started hoist: a
/// `nohup` or a non-interactive shell's `&` (SIGHUP, SIGINT, SIGQUIT; a shell cannot even
/// trap a signal ignored when it started), or Rust's own SIGPIPE.
fn default_signals() {
    /// The kernel's `struct sigaction` (glibc's wrapper refuses its internal signals 32
    /// and 33, which can be inherited ignored too).
    #[repr(C)]
    struct KernelSigaction {
        handler: libc::sighandler_t,
        flags: libc::c_ulong,
        restorer: usize,
        mask: u64,
    }
    let default = KernelSigaction {
        handler: libc::SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    for signal in 1..=64 {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // SAFETY: `default` is a valid kernel sigaction for the call's duration; the
            // old action is not asked for. Errors leave the disposition as it was.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    signal,
                    &default as *const KernelSigaction,
                    std::ptr::null_mut::<KernelSigaction>(),
                    8usize,
                )
            };
        }
    }
    // SAFETY: an empty set, filled by sigemptyset before use.
    unsafe {
        let mut none: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut none);
        libc::sigprocmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
    }
}

impl Executor for Loader {
    fn exec(&self, spec: &Spec) -> Result<(), ExecutorError> {
        default_signals();
        let Some(filter) = &self.filter else {
            return libcontainer::workload::default::get_executor().exec(spec);
        };
        filter.load().map_err(|e| {
            ExecutorError::Other(format!("cannot load the container's seccomp filter: {e}"))
        })?;
        if self.extra != 0 {
            if let Some(caps) = spec
                .process()
                .as_ref()
                .and_then(|p| p.capabilities().as_ref())
            {
                let syscall = libcontainer::syscall::syscall::create_syscall();
                libcontainer::capabilities::drop_privileges(&self.drop_extra(caps), &*syscall)
                    .map_err(|e| ExecutorError::Other(format!("cannot drop capabilities: {e}")))?;
            }
        }
        libcontainer::workload::default::get_executor().exec(spec)
    }

    fn validate(&self, spec: &Spec) -> Result<(), ExecutorValidationError> {
        libcontainer::workload::default::get_executor().validate(spec)
    }

    fn setup_envs(
        &self,
        envs: std::collections::HashMap<String, String>,
    ) -> Result<(), ExecutorSetEnvsError> {
        libcontainer::workload::default::get_executor().setup_envs(envs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_profile() -> LinuxSeccomp {
        let caps = super::super::super::spec::capabilities(false, &[], &[]).unwrap();
        let value = super::super::for_container(&[], false, &caps)
            .unwrap()
            .unwrap();
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_default_profile_compiles_and_its_file_round_trips() {
        let compiled = compile(&default_profile()).unwrap();
        assert_eq!(compiled.flags, 0);
        assert!(
            compiled.program.len() > 8 * 100,
            "{}",
            compiled.program.len()
        );
        let bytes = compiled.to_bytes(0b11);
        assert_eq!(Compiled::from_bytes(&bytes), Some((compiled.clone(), 0b11)));
        // Torn or altered files are not loaded.
        assert_eq!(Compiled::from_bytes(&bytes[..bytes.len() - 8]), None);
        let mut altered = bytes.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert_eq!(Compiled::from_bytes(&altered), None);
        assert_eq!(Compiled::from_bytes(b"HOISTBPF"), None);
    }

    #[test]
    fn compiled_filters_are_cached_by_rules() {
        let root = tempfile::tempdir().unwrap();
        let profile = default_profile();
        let first = compiled(root.path(), &profile).unwrap();
        let files: Vec<_> = fs::read_dir(root.path().join("cache/seccomp"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let (on_disk, _) = Compiled::from_bytes(&fs::read(&files[0]).unwrap()).unwrap();
        assert_eq!(on_disk, *first);
        // Different rules, a different program.
        let mut other = profile.clone();
        other.set_default_errno_ret(Some(38));
        assert_ne!(key(&other).unwrap(), key(&profile).unwrap());
    }

    #[test]
    fn the_launch_bundle_has_the_loading_caps_and_no_rules() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("c");
        fs::create_dir_all(&dir).unwrap();
        let caps = super::super::super::spec::capabilities(false, &[], &[]).unwrap();
        let seccomp = super::super::for_container(&[], false, &caps)
            .unwrap()
            .unwrap();
        let spec: Spec = serde_json::from_value(serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "/nonexistent"},
            "process": {"cwd": "/", "args": ["true"], "user": {"uid": 0, "gid": 0},
                        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps}},
            "linux": {"seccomp": seccomp},
        }))
        .unwrap();
        write_launch_bundle(root.path(), &dir, &spec).unwrap();
        let (bundle, loader) = launch_bundle(&dir).unwrap();
        assert_eq!(bundle, dir.join(LAUNCH_DIR));
        // Docker's default set has CAP_SETPCAP already.
        assert_eq!(loader.loading_caps(), ["CAP_SYS_ADMIN"]);
        let launch = Spec::load(bundle.join("config.json")).unwrap();
        assert!(launch.linux().as_ref().unwrap().seccomp().is_none());
        let caps_of = |spec: &Spec| {
            let process = spec.process().clone().unwrap();
            process.capabilities().clone().unwrap()
        };
        let launched = caps_of(&launch);
        assert!(launched
            .bounding()
            .as_ref()
            .unwrap()
            .contains(&Capability::SysAdmin));
        // Dropping them again gives the container's own set.
        let dropped = loader.drop_extra(&launched);
        let orig = caps_of(&spec);
        assert_eq!(dropped.bounding(), orig.bounding());
        assert_eq!(dropped.effective(), orig.effective());
        // Without a filter, no launch bundle.
        let plain = root.path().join("plain");
        fs::create_dir_all(&plain).unwrap();
        let mut unconfined = spec.clone();
        unconfined.linux_mut().as_mut().unwrap().set_seccomp(None);
        write_launch_bundle(root.path(), &plain, &unconfined).unwrap();
        assert_eq!(launch_bundle(&plain).unwrap().0, plain);
    }
}
