fn main() {
    // The native runtime's monitor is this binary re-executed; it must run before any
    // thread (tokio's) exists: libcontainer deadlocks in a multithreaded process.
    if let Some(code) = hoist::runtime::native::monitor::dispatch() {
        std::process::exit(code);
    }
    let code = hoist::cli::main();
    // A state database still open for reuse is closed cleanly before exiting.
    hoist::runtime::native::state::close_stores();
    std::process::exit(code);
}
