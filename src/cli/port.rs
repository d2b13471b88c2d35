//! `hoist port`: the host address a service's container port is published on.

use super::target::resolve;
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::observe::service_container;
use crate::engine::EngineError;
use crate::runtime::Protocol;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct PortArgs {
    /// The service
    pub service: String,
    /// The container port
    pub private_port: u16,
    /// tcp or udp
    #[arg(long, default_value = "tcp")]
    pub protocol: String,
    /// Index of the container if service has multiple replicas
    #[arg(long, default_value_t = 0)]
    pub index: u32,
}

pub async fn run(global: &GlobalArgs, args: &PortArgs) -> Result<i32, CliError> {
    let protocol = Protocol::parse(&args.protocol).ok_or_else(|| {
        CliError::usage(format!(
            "invalid --protocol \"{}\": expected tcp, udp or sctp",
            args.protocol
        ))
    })?;
    let target = resolve(global, std::slice::from_ref(&args.service), false)?;
    let engine = engine_for(global).await?;
    let index = (args.index > 0).then_some(args.index);
    let container = service_container(
        engine.runtime.as_ref(),
        &target.name,
        &args.service,
        index,
        false,
    )
    .await?;
    let binding = container
        .ports
        .iter()
        .filter(|p| p.container_port == args.private_port && p.protocol == protocol)
        // IPv4 first, like docker.
        .min_by_key(|p| p.host_ip.contains(':'));
    match binding {
        Some(p) => {
            println!("{}:{}", p.host_ip, p.host_port);
            Ok(0)
        }
        None => Err(CliError::Engine(EngineError::new(format!(
            "no port {}/{} for container {}: not found",
            args.private_port, protocol, container.name
        )))),
    }
}
