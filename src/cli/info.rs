//! `hoist info`: the backend in use and why, where its data lives, how many containers,
//! images, volumes and networks it holds, and its storage and host facts, as `docker info`.

use serde_json::json;

use super::{backend, CliError, GlobalArgs};
use crate::engine::EngineError;
use crate::runtime::{ContainerListOptions, ContainerStatus};

#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// Format the output. Values: [pretty | json]
    #[arg(long, value_parser = ["pretty", "json"], default_value = "pretty")]
    pub format: String,
}

pub async fn run(global: &GlobalArgs, args: &InfoArgs) -> Result<i32, CliError> {
    let selected = backend::select(global.backend).await?;
    let rt = selected.runtime.as_ref();
    let fail = |what: &str| {
        let what = what.to_string();
        move |e| CliError::from(EngineError::runtime(&what, e))
    };
    let info = rt.info().await.map_err(fail("query the backend"))?;
    let system = rt.system_info().await.map_err(fail("query the backend"))?;
    let containers = rt
        .list_containers(&ContainerListOptions {
            all: true,
            labels: Vec::new(),
        })
        .await
        .map_err(fail("list containers"))?;
    let count = |status: ContainerStatus| containers.iter().filter(|c| c.status == status).count();
    let running = count(ContainerStatus::Running);
    let paused = count(ContainerStatus::Paused);
    let images = rt
        .list_images(&[])
        .await
        .map_err(fail("list images"))?
        .len();
    let volumes = rt
        .list_volumes(&[])
        .await
        .map_err(fail("list volumes"))?
        .len();
    let networks = rt
        .list_networks(&[])
        .await
        .map_err(fail("list networks"))?
        .len();
    let value = json!({
        "Backend": info.backend,
        "Selected": selected.reason,
        "ServerVersion": if info.backend == "docker" { info.version.clone() } else { env!("CARGO_PKG_VERSION").to_string() },
        "Endpoint": info.endpoint,
        "DataRoot": system.data_root,
        "Containers": containers.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": containers.len() - running - paused,
        "Images": images,
        "Volumes": volumes,
        "Networks": networks,
        "StorageDriver": system.storage_driver,
        "CgroupVersion": system.cgroup_version,
        "KernelVersion": system.kernel_version,
        "OperatingSystem": system.operating_system,
        "OSType": info.os,
        "Architecture": info.arch,
        "RegistryMirrors": system.registry_mirrors,
        "InsecureRegistries": system.insecure_registries,
    });
    if args.format == "json" {
        println!("{value}");
        return Ok(0);
    }
    let text = |k: &str| match &value[k] {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    println!("Backend: {} ({})", text("Backend"), text("Selected"));
    println!(" Server Version: {}", text("ServerVersion"));
    if info.backend == "docker" {
        println!(" Endpoint: {}", text("Endpoint"));
    }
    println!(" Data Root: {}", text("DataRoot"));
    println!(" Containers: {}", text("Containers"));
    println!("  Running: {}", text("ContainersRunning"));
    println!("  Paused: {}", text("ContainersPaused"));
    println!("  Stopped: {}", text("ContainersStopped"));
    println!(" Images: {}", text("Images"));
    println!(" Volumes: {}", text("Volumes"));
    println!(" Networks: {}", text("Networks"));
    println!(" Storage Driver: {}", text("StorageDriver"));
    println!(" Cgroup Version: {}", text("CgroupVersion"));
    println!(" Kernel Version: {}", text("KernelVersion"));
    println!(" Operating System: {}", text("OperatingSystem"));
    println!(" OSType: {}", text("OSType"));
    println!(" Architecture: {}", text("Architecture"));
    for (title, key) in [
        ("Registry Mirrors", "RegistryMirrors"),
        ("Insecure Registries", "InsecureRegistries"),
    ] {
        let list = value[key].as_array().cloned().unwrap_or_default();
        if !list.is_empty() {
            println!(" {title}:");
            for item in list {
                println!("  {}", item.as_str().unwrap_or_default());
            }
        }
    }
    Ok(0)
}
