//! Builds the container init (`src/runtime/native/init/hoist_init.rs`) as a static
//! executable for the native runtime's `init: true`: it must run in any image, so it is
//! compiled on its own (std only, glibc linked statically) and embedded in hoist.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let source = "src/runtime/native/init/hoist_init.rs";
    println!("cargo:rerun-if-changed={source}");
    println!("cargo:rerun-if-changed=build.rs");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let target = std::env::var("TARGET").expect("cargo sets TARGET");
    let binary = out.join("hoist-init");
    let status = Command::new(&rustc)
        .args(["--edition", "2021", "--target", &target])
        .args([
            "-C",
            "opt-level=s",
            "-C",
            "panic=abort",
            "-C",
            "strip=symbols",
        ])
        .args(["-C", "codegen-units=1", "-C", "target-feature=+crt-static"])
        .arg("-o")
        .arg(&binary)
        .arg(source)
        .status()
        .unwrap_or_else(|e| panic!("cannot run {rustc:?} to build the container init: {e}"));
    assert!(
        status.success(),
        "building the container init ({source}) failed: a static build needs glibc's \
         static library (Debian: libc6-dev)"
    );
}
