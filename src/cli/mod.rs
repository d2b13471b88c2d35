//! Command-line interface: clap definitions, one file per subcommand.

pub fn main() -> i32 {
    0
}
