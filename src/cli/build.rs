//! `hoist build`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{engine_for, load_context, CliError, GlobalArgs};
use crate::engine::images::{BuildOptions, BuildOverrides};
use crate::engine::progress::QuietReporter;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct BuildArgs {
    /// Services to build (default: every service with a build section)
    pub services: Vec<String>,
    /// Set build-time variables for services
    #[arg(long, value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Push service images
    #[arg(long)]
    pub push: bool,
    /// Don't print anything to STDOUT
    #[arg(short, long)]
    pub quiet: bool,
}

/// `--build-arg K=V`; a bare `K` takes its value from the environment and is dropped when
/// unset, as docker compose does.
fn build_args(raw: &[String]) -> Result<BTreeMap<String, String>, CliError> {
    let mut args = BTreeMap::new();
    for item in raw {
        match item.split_once('=') {
            Some(("", _)) => {
                return Err(CliError::usage(format!(
                    "invalid --build-arg \"{item}\": expected KEY=VALUE"
                )))
            }
            Some((k, v)) => {
                args.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Ok(v) = std::env::var(item) {
                    args.insert(item.clone(), v);
                }
            }
        }
    }
    Ok(args)
}

pub async fn run(global: &GlobalArgs, args: &BuildArgs) -> Result<i32, CliError> {
    let ctx = load_context(global, &args.services)?;
    let mut engine = engine_for(global).await?;
    if args.quiet {
        engine.reporter = Arc::new(QuietReporter);
    }
    let opts = BuildOptions {
        services: args.services.clone(),
        overrides: BuildOverrides {
            args: build_args(&args.build_arg)?,
            no_cache: args.no_cache,
            pull: args.pull,
        },
        push: args.push,
    };
    let result = engine.build_services(&ctx, &opts).await;
    engine.reporter.finish();
    result?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_split_on_the_first_equals_sign() {
        let args = build_args(&["A=1".into(), "B=x=y".into(), "C=".into()]).ok();
        let expected: BTreeMap<String, String> = [("A", "1"), ("B", "x=y"), ("C", "")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(args, Some(expected));
    }

    #[test]
    fn build_arg_without_a_key_is_a_usage_error() {
        assert!(matches!(
            build_args(&["=1".into()]),
            Err(CliError::Usage(_))
        ));
    }
}
