//! Teardown for tests driving a native data root through the library: removes whatever
//! a test left in it (containers with their monitors, mounts and namespace files; networks
//! with their bridges, veths and iptables rules), pass or fail. Compose projects use
//! `stack.rs` (`Stack::on(Backend::Native, ..)`), whose drop does the same.
//!
//! Include it from the test crate's root: `#[path = "common/native.rs"] mod native;`.

use std::path::Path;

use hoist::runtime::native::NativeRuntime;
use hoist::runtime::{ContainerListOptions, Runtime};

/// Removes every container (with its monitor, mounts and namespace files) and every
/// network (bridge, veths, iptables rules) of data root `root`, so a failed test leaves
/// nothing behind. On a thread and tokio runtime of its own: a caller's runtime may hold
/// the networks' kernel connection and be blocked here.
pub fn remove_everything(root: &Path) {
    let root = root.to_path_buf();
    let _ = std::thread::spawn(move || {
        let Ok(tokio) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        tokio.block_on(async {
            let Ok(rt) = NativeRuntime::open(&root) else {
                return;
            };
            let all = ContainerListOptions {
                all: true,
                labels: vec![],
            };
            for c in rt.list_containers(&all).await.unwrap_or_default() {
                let _ = rt.remove_container(&c.id, true, true).await;
            }
            // Then the networks: no bridge, veth or iptables rule outlives a test.
            for net in rt.list_networks(&[]).await.unwrap_or_default() {
                let _ = rt.remove_network(&net.id).await;
            }
        });
    })
    .join();
}
