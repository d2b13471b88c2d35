//! Healthchecks on the native runtime: the container's effective healthcheck (the
//! service's over the image's `Healthcheck`, as Docker merges them), the prober the
//! monitor forks while the container runs, and the health record it keeps in
//! `containers/<id>/health.json` (replaced atomically, so a crash never leaves half a
//! record) where `inspect_container` reads it.
//!
//! Probes run through the exec helper ([`super::exec`]): the test joins the container's
//! namespaces exactly as `docker exec` would.
//!
//! Not for: waiting on health (the engine polls `inspect_container`).

use std::fs;
use std::io::{Read, Write as _};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::exec::{helper_command, ExecRequest};
use super::oci::HealthConfig;
use super::state::{self, MonitorConfig};
use crate::runtime::{HealthProbe, HealthState, HealthStatus, Healthcheck};

/// The record file in the container's directory.
pub const HEALTH_FILE: &str = "health.json";

/// Docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u32 = 3;
/// Docker keeps the last five probes and 4 KiB of each one's output.
const KEPT_PROBES: usize = 5;
const MAX_OUTPUT: usize = 4096;
/// How soon the first probe runs: the engine's health waits should not sit out a whole
/// interval (DESIGN.md section 3).
const FIRST_PROBE: Duration = Duration::from_millis(500);

/// The healthcheck a container runs: the service's fields over the image's, `None` when
/// there is no test or it is `NONE`.
pub fn effective(spec: Option<&Healthcheck>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    let ns = |d: Option<Duration>| d.map(|d| d.as_nanos().min(i64::MAX as u128) as i64);
    let mut merged = image.cloned().unwrap_or_default();
    if let Some(s) = spec {
        if !s.test.is_empty() {
            merged.test = s.test.clone();
        }
        merged.interval = ns(s.interval).or(merged.interval);
        merged.timeout = ns(s.timeout).or(merged.timeout);
        merged.start_period = ns(s.start_period).or(merged.start_period);
        merged.start_interval = ns(s.start_interval).or(merged.start_interval);
        merged.retries = s.retries.map(i64::from).or(merged.retries);
    }
    match merged.test.first().map(String::as_str) {
        None | Some("NONE") => None,
        _ => Some(merged),
    }
}

/// The health record, as written by the prober.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthRecord {
    /// `starting`, `healthy` or `unhealthy`.
    pub status: String,
    pub failing_streak: i64,
    pub log: Vec<ProbeRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeRecord {
    pub start: String,
    pub end: String,
    pub exit_code: i64,
    pub output: String,
}

/// The container's health as `inspect_container` reports it; `None` without a record.
pub fn read(root: &Path, id: &str) -> Option<HealthState> {
    let bytes = fs::read(state::container_dir(root, id).join(HEALTH_FILE)).ok()?;
    let record: HealthRecord = serde_json::from_slice(&bytes).ok()?;
    let status = match record.status.as_str() {
        "healthy" => HealthStatus::Healthy,
        "unhealthy" => HealthStatus::Unhealthy,
        _ => HealthStatus::Starting,
    };
    Some(HealthState {
        status,
        failing_streak: record.failing_streak,
        log: record
            .log
            .into_iter()
            .map(|p| HealthProbe {
                exit_code: p.exit_code,
                output: p.output,
                start: Some(p.start),
                end: Some(p.end),
            })
            .collect(),
    })
}

fn write(root: &Path, id: &str, record: &HealthRecord) {
    let dir = state::container_dir(root, id);
    let tmp = dir.join(format!("{HEALTH_FILE}.{}", std::process::id()));
    let result = serde_json::to_vec(record)
        .map_err(std::io::Error::other)
        .and_then(|bytes| {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, dir.join(HEALTH_FILE)));
    if let Err(e) = result {
        eprintln!("container {id}: cannot record its health: {e}");
    }
}

/// Starts a fresh record, `starting` with no probes, as each (re)start of the container
/// does on Docker.
pub fn record_starting(root: &Path, id: &str) {
    let record = HealthRecord {
        status: "starting".to_string(),
        ..Default::default()
    };
    write(root, id, &record);
}

fn duration(ns: Option<i64>, default: Duration) -> Duration {
    match ns {
        Some(n) if n > 0 => Duration::from_nanos(n as u64),
        _ => default,
    }
}

/// The prober's loop, in a process the monitor forked once the container runs; it never
/// returns (the monitor kills it when the container exits).
pub fn probe_forever(root: &Path, id: &str, monitor: &MonitorConfig) -> ! {
    let Some(config) = &monitor.healthcheck else {
        // SAFETY: leaving the forked prober without the monitor's destructors.
        unsafe { libc::_exit(0) }
    };
    let interval = duration(config.interval, DEFAULT_INTERVAL);
    let timeout = duration(config.timeout, DEFAULT_TIMEOUT);
    let start_period = duration(config.start_period, Duration::ZERO);
    let start_interval = duration(config.start_interval, DEFAULT_START_INTERVAL);
    let retries = config
        .retries
        .filter(|&r| r > 0)
        .unwrap_or(i64::from(DEFAULT_RETRIES));
    let started = Instant::now();
    let mut record = HealthRecord {
        status: "starting".to_string(),
        ..Default::default()
    };
    let request = match probe_request(monitor, &config.test) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("container {id}: healthcheck: {e}");
            // SAFETY: leaving the forked prober without the monitor's destructors.
            unsafe { libc::_exit(1) }
        }
    };
    let mut delay = FIRST_PROBE.min(interval);
    loop {
        std::thread::sleep(delay);
        let probe = run_probe(root, id, &request, timeout);
        let in_start_period = started.elapsed() < start_period;
        if probe.exit_code == 0 {
            record.status = "healthy".to_string();
            record.failing_streak = 0;
        } else if !(in_start_period && record.status == "starting") {
            // Failures during the start period do not count (Docker's rule).
            record.failing_streak += 1;
            if record.failing_streak >= retries {
                record.status = "unhealthy".to_string();
            }
        }
        record.log.push(probe);
        if record.log.len() > KEPT_PROBES {
            record.log.remove(0);
        }
        write(root, id, &record);
        // While the container is still starting, probe at the start interval (never
        // slower than the interval itself).
        delay = if record.status == "starting" {
            start_interval.min(interval)
        } else {
            interval
        };
    }
}

/// The exec request of a test: `CMD` runs its arguments, `CMD-SHELL` runs `/bin/sh -c`.
fn probe_request(monitor: &MonitorConfig, test: &[String]) -> Result<ExecRequest, String> {
    let args = match test.split_first() {
        Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
        Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
            vec!["/bin/sh".to_string(), "-c".to_string(), rest.join(" ")]
        }
        _ => return Err(format!("unusable test {test:?}: use CMD or CMD-SHELL")),
    };
    Ok(ExecRequest {
        args,
        env: Vec::new(),
        cwd: monitor.working_dir.clone(),
        user: monitor.user.clone(),
    })
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// Runs one probe, killed after `timeout` (exit code -1, as Docker records a timeout).
fn run_probe(root: &Path, id: &str, request: &ExecRequest, timeout: Duration) -> ProbeRecord {
    let start = now();
    let failed = |message: String| ProbeRecord {
        start: start.clone(),
        end: now(),
        exit_code: -1,
        output: message,
    };
    let mut command = match helper_command(root, id, request) {
        Ok(c) => c,
        Err(e) => return failed(e.to_string()),
    };
    // One pipe for both streams: Docker records them together.
    let (reader, writer) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok((r, w)) => (fs::File::from(r), fs::File::from(w)),
        Err(e) => return failed(format!("cannot create a pipe: {e}")),
    };
    let writer2 = match writer.try_clone() {
        Ok(w) => w,
        Err(e) => return failed(format!("cannot create a pipe: {e}")),
    };
    command.stdin(Stdio::null()).stdout(writer).stderr(writer2);
    // Its own process group: a timeout kills the test inside the container too (the
    // helper's child), not only the helper.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = match command.spawn() {
        Ok(c) => c,
        Err(e) => return failed(format!("cannot start the probe: {e}")),
    };
    drop(command);
    // The output is read on a thread: this process (a fork of the monitor) is ours alone.
    let collector = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = reader.take(64 * 1024).read_to_end(&mut out);
        out
    });
    let deadline = Instant::now() + timeout;
    let code = loop {
        match child.try_wait() {
            Ok(Some(status)) => break i64::from(status.code().unwrap_or(-1)),
            Ok(None) if Instant::now() >= deadline => {
                if let Ok(group) = i32::try_from(child.id()) {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(-group),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                let _ = child.kill();
                let _ = child.wait();
                let _ = collector.join();
                return failed(format!(
                    "Health check exceeded timeout ({}s)",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return failed(format!("cannot wait for the probe: {e}")),
        }
    };
    let mut output = collector.join().unwrap_or_default();
    output.truncate(MAX_OUTPUT);
    ProbeRecord {
        start,
        end: now(),
        exit_code: code,
        output: String::from_utf8_lossy(&output).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_healthcheck_overrides_the_images_field_by_field_and_none_disables() {
        let image = HealthConfig {
            test: vec!["CMD".into(), "true".into()],
            interval: Some(5_000_000_000),
            retries: Some(7),
            ..Default::default()
        };
        let service = Healthcheck {
            test: vec!["CMD-SHELL".into(), "exit 0".into()],
            interval: Some(Duration::from_secs(1)),
            ..Default::default()
        };
        let merged = effective(Some(&service), Some(&image)).expect("a healthcheck");
        assert_eq!(merged.test, ["CMD-SHELL", "exit 0"]);
        assert_eq!(merged.interval, Some(1_000_000_000));
        assert_eq!(merged.retries, Some(7));
        assert_eq!(effective(None, Some(&image)), Some(image.clone()));
        let none = Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        };
        assert_eq!(effective(Some(&none), Some(&image)), None);
        assert_eq!(effective(None, None), None);
    }
}
