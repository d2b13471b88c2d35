//! Names and labels shared with docker compose, so each tool recognises the other's stacks.

/// Label keys set on every container, network and volume hoist creates.
pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const ENVIRONMENT_FILE: &str = "com.docker.compose.project.environment_file";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const IMAGE: &str = "com.docker.compose.image";
pub const VERSION: &str = "com.docker.compose.version";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const SLUG: &str = "com.docker.compose.slug";
pub const REPLACE: &str = "com.docker.compose.replace";

/// The compose version hoist writes in `com.docker.compose.version` (the docker compose
/// release whose label semantics it follows).
pub const COMPOSE_VERSION: &str = "2.29.0";

/// `<project>-<service>-<n>`, the name of replica `n` (from 1) of a service.
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

/// `<project>-<service>-run-<12 hex>`, the name of a one-off (`run`) container.
pub fn oneoff_name(project: &str, service: &str, slug: &str) -> String {
    let short: String = slug.chars().take(12).collect();
    format!("{project}-{service}-run-{short}")
}

/// The image a service without `image:` builds to: `<project>-<service>`.
pub fn default_image_name(project: &str, service: &str) -> String {
    format!("{project}-{service}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker_compose() {
        assert_eq!(container_name("shop", "web", 1), "shop-web-1");
        assert_eq!(
            oneoff_name("shop", "npm", "0123456789abcdef0123"),
            "shop-npm-run-0123456789ab"
        );
        assert_eq!(default_image_name("shop", "api"), "shop-api");
    }
}
