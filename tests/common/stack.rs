//! A compose project in a temporary directory, driven through the real `hoist` binary, and
//! torn down (containers, networks, volumes, built images) when the test ends, pass or fail.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use super::{ensure_busybox_image, unique_name};

pub struct Stack {
    pub dir: tempfile::TempDir,
    pub name: String,
}

impl Stack {
    /// A new project named uniquely after `prefix`, with the busybox test image available.
    pub fn new(prefix: &str) -> Stack {
        ensure_busybox_image();
        let name = unique_name(prefix).replace('.', "-").to_lowercase();
        Stack {
            dir: tempfile::tempdir().expect("temp dir"),
            name,
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file of the project (parents created).
    pub fn write(&self, rel: &str, content: &str) -> &Self {
        let path = self.dir.path().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create dir");
        }
        std::fs::write(&path, content).expect("write file");
        self
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hoist"));
        cmd.current_dir(self.dir.path())
            .args(["-p", &self.name, "--progress", "plain"])
            .args(args)
            .env("HOIST_BACKEND", "docker")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs hoist with `args`; returns its output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run hoist")
    }

    /// Runs hoist with `args` and fails the test, showing the output, unless it exits 0.
    pub fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "hoist {} failed ({}):\nstdout:\n{}\nstderr:\n{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// `docker` CLI output (trimmed), to check what hoist did from the engine's side.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("run docker");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Id of the container `name`, or empty when it does not exist.
    pub fn container_id(&self, name: &str) -> String {
        self.docker(&["inspect", "--format", "{{.Id}}", name])
    }

    /// Names of the project's containers, sorted.
    pub fn containers(&self) -> Vec<String> {
        let out = self.docker(&[
            "ps",
            "-a",
            "--filter",
            &format!("label=com.docker.compose.project={}", self.name),
            "--format",
            "{{.Names}}",
        ]);
        let mut names: Vec<String> = out
            .lines()
            .map(str::to_string)
            .filter(|l| !l.is_empty())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = self
            .command(&[
                "down",
                "-v",
                "--remove-orphans",
                "-t",
                "0",
                "--rmi",
                "local",
            ])
            .output();
        // Whatever hoist could not remove (a failing test may have broken the project).
        let label = format!("label=com.docker.compose.project={}", self.name);
        let ids = self.docker(&["ps", "-aq", "--filter", &label]);
        for id in ids.lines().filter(|l| !l.is_empty()) {
            let _ = Command::new("docker").args(["rm", "-fv", id]).output();
        }
        for (list, rm) in [(["network", "ls"], "network"), (["volume", "ls"], "volume")] {
            let ids = self.docker(&[list[0], list[1], "-q", "--filter", &label]);
            for id in ids.lines().filter(|l| !l.is_empty()) {
                let _ = Command::new("docker").args([rm, "rm", id]).output();
            }
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// `GET path` on 127.0.0.1:port, retried for a few seconds while the server starts.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    for _ in 0..50 {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
            let mut body = String::new();
            if s.read_to_string(&mut body).is_ok() && !body.is_empty() {
                return body.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A command's standard output as text.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A command's standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
