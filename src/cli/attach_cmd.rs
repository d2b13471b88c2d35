//! `hoist attach`: the user's terminal (or pipes) connected to a service's running container,
//! as `docker compose attach` does: its output from now on, hoist's stdin to it, and its exit
//! code as hoist's; the detach keys (TTY) or a signal leave it running.
//!
//! Not for: the attached `up`'s log multiplexer (`super::attach`).

use std::io::IsTerminal;

use super::detach_keys::DetachKeys;
use super::run::exit_code;
use super::session::{self, Ended, OnSignal, Relay, Target};
use super::terminal::RawMode;
use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::engine::EngineError;
use crate::runtime::AttachOptions;

#[derive(clap::Args, Debug, Clone)]
pub struct AttachArgs {
    /// Override the key sequence for detaching from a container (default ctrl-p,ctrl-q; a
    /// container with a TTY only)
    #[arg(long, value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Index of the container if service has multiple replicas (0 and 1: the first)
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub index: u32,
    /// Do not attach STDIN
    #[arg(long)]
    pub no_stdin: bool,
    /// Proxy all received signals to the process (SIGINT, SIGTERM; without a TTY). With
    /// `--sig-proxy=false`, Ctrl-C detaches instead
    #[arg(long, default_value_t = true, num_args = 0..=1, require_equals = true,
          default_missing_value = "true", value_name = "BOOL")]
    pub sig_proxy: bool,
    /// The service whose running container to attach to
    pub service: String,
}

pub async fn run(global: &GlobalArgs, args: &AttachArgs) -> Result<i32, CliError> {
    let keys = DetachKeys::parse(args.detach_keys.as_deref().unwrap_or_default())
        .map_err(CliError::Usage)?;
    let ctx = load_context(global, std::slice::from_ref(&args.service))?;
    let engine = engine_for(global).await?;
    // `--index 0` (the default) is the first replica, as in docker compose.
    let container = engine
        .exec_target(&ctx, &args.service, args.index.max(1))
        .await?;
    let runtime = engine.runtime.clone();
    let info = runtime
        .inspect_container(&container)
        .await
        .map_err(|e| EngineError::runtime(&format!("inspect container {container}"), e))?;
    // As docker: stdin only to a container that keeps it open, detach keys only with a TTY.
    let stdin = !args.no_stdin && info.stdin_open;
    let tty = info.tty;
    let detach_keys = (tty && stdin).then_some(keys);
    let options = AttachOptions {
        stdin,
        // The Docker engine watches for them too: it must watch for the same ones.
        detach_keys: detach_keys.as_ref().map(|k| k.as_str().to_string()),
        ..AttachOptions::default()
    };
    let io = runtime
        .attach_container(&container, &options)
        .await
        .map_err(|e| EngineError::runtime(&format!("attach to container {container}"), e))?;
    let raw = RawMode::enable_if(tty && stdin && std::io::stdin().is_terminal())?;
    let how = Relay {
        tty,
        stdin,
        signals: if args.sig_proxy {
            OnSignal::Proxy
        } else {
            OnSignal::Detach
        },
        detach_keys,
    };
    let ended = session::relay(&runtime, io, &Target::Container(container.clone()), how).await;
    drop(raw);
    match ended? {
        // A closed stdout (`| head`) ends the docker CLI too: the container keeps running.
        Ended::DetachKeys | Ended::OutputClosed => Ok(0),
        Ended::Signal(signo) => {
            eprintln!("detached from {container}; it keeps running");
            Ok(128 + signo)
        }
        Ended::Output => {
            let code = runtime
                .wait_container(&container)
                .await
                .map_err(|e| EngineError::runtime(&format!("wait for container {container}"), e))?;
            Ok(exit_code(code))
        }
    }
}
