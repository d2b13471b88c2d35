fn main() {
    // The native runtime's monitor is this binary re-executed; it must run before any
    // thread (tokio's) exists: libcontainer deadlocks in a multithreaded process.
    if let Some(code) = hoist::runtime::native::monitor::dispatch() {
        std::process::exit(code);
    }
    std::process::exit(hoist::cli::main());
}
