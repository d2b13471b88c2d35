//! What a runtime holds of one project: its containers, networks and volumes, found by the
//! `com.docker.compose.project` label (no side database).

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::compose::model::Project;
use crate::compose::Loaded;
use crate::runtime::{
    ContainerListOptions, ContainerSummary, LabelFilter, NetworkInfo, Runtime, VolumeInfo,
};

use super::error::EngineError;
use super::labels;

/// A loaded project and where it came from: what the engine converges toward.
#[derive(Clone, Debug)]
pub struct ProjectContext {
    pub project: Project,
    pub working_dir: PathBuf,
    pub config_files: Vec<PathBuf>,
    /// Services of the file left out by profiles: their containers are not orphans.
    pub disabled_services: Vec<String>,
    /// The project environment (process environment over `.env`): where secrets with
    /// `environment:` take their values.
    pub environment: crate::compose::discover::Environment,
}

impl ProjectContext {
    pub fn from_loaded(loaded: &Loaded) -> ProjectContext {
        ProjectContext {
            project: loaded.project.clone(),
            working_dir: loaded.project_dir.clone(),
            config_files: loaded.config_files.clone(),
            disabled_services: loaded.disabled_services.clone(),
            environment: loaded.environment.clone(),
        }
    }

    /// A project known only by name (no compose file): what its labels say is all there is.
    pub fn named(name: &str) -> ProjectContext {
        ProjectContext {
            project: Project {
                name: Some(name.to_string()),
                ..Project::default()
            },
            working_dir: PathBuf::new(),
            config_files: Vec::new(),
            disabled_services: Vec::new(),
            environment: Default::default(),
        }
    }

    pub fn name(&self) -> &str {
        self.project.name.as_deref().unwrap_or_default()
    }

    /// The image reference a service runs: `image:` or `<project>-<service>` when it only builds.
    pub fn image_of(&self, service: &str) -> String {
        self.project
            .services
            .get(service)
            .and_then(|s| s.image.clone())
            .unwrap_or_else(|| labels::default_image_name(self.name(), service))
    }
}

/// One container of the project, as the runtime lists it.
#[derive(Clone, Debug)]
pub struct ProjectContainer {
    pub summary: ContainerSummary,
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
}

impl ProjectContainer {
    /// A project known only by name (no compose file): what its labels say is all there is.
    pub fn named(name: &str) -> ProjectContext {
        ProjectContext {
            project: Project {
                name: Some(name.to_string()),
                ..Project::default()
            },
            working_dir: PathBuf::new(),
            config_files: Vec::new(),
            disabled_services: Vec::new(),
            environment: Default::default(),
        }
    }

    pub fn name(&self) -> &str {
        &self.summary.name
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.summary.labels.get(key).map(String::as_str)
    }
}

/// Everything of one project the runtime has.
#[derive(Clone, Debug, Default)]
pub struct ProjectState {
    pub containers: Vec<ProjectContainer>,
    pub networks: Vec<NetworkInfo>,
    pub volumes: Vec<VolumeInfo>,
}

impl ProjectState {
    pub async fn observe(
        runtime: &dyn Runtime,
        project: &str,
    ) -> Result<ProjectState, EngineError> {
        let filter = [LabelFilter::equals(labels::PROJECT, project)];
        let list = ContainerListOptions {
            all: true,
            labels: filter.to_vec(),
        };
        let (containers, networks, volumes) = tokio::try_join!(
            runtime.list_containers(&list),
            runtime.list_networks(&filter),
            runtime.list_volumes(&filter),
        )
        .map_err(|e| EngineError::runtime("list the project's resources", e))?;
        let mut containers: Vec<ProjectContainer> = containers
            .into_iter()
            .map(|summary| {
                let service = summary
                    .labels
                    .get(labels::SERVICE)
                    .cloned()
                    .unwrap_or_default();
                let number = summary
                    .labels
                    .get(labels::CONTAINER_NUMBER)
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0);
                let oneoff = summary
                    .labels
                    .get(labels::ONEOFF)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                ProjectContainer {
                    summary,
                    service,
                    number,
                    oneoff,
                }
            })
            .collect();
        containers.sort_by(|a, b| {
            (&a.service, a.number, a.name()).cmp(&(&b.service, b.number, b.name()))
        });
        Ok(ProjectState {
            containers,
            networks,
            volumes,
        })
    }

    /// The service's numbered (not one-off) containers, by number.
    pub fn service_containers(&self, service: &str) -> Vec<&ProjectContainer> {
        self.containers
            .iter()
            .filter(|c| c.service == service && !c.oneoff)
            .collect()
    }

    /// Containers whose service is not in `known`.
    pub fn orphans<'a>(&'a self, known: &[&str]) -> Vec<&'a ProjectContainer> {
        self.containers
            .iter()
            .filter(|c| !c.oneoff && !known.contains(&c.service.as_str()))
            .collect()
    }

    /// Labels by container name, for quick lookups.
    pub fn labels_of(&self, name: &str) -> Option<&BTreeMap<String, String>> {
        self.containers
            .iter()
            .find(|c| c.name() == name)
            .map(|c| &c.summary.labels)
    }
}
