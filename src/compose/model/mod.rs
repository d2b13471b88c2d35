//! The typed Compose model: what a merged compose file is deserialized into, and what
//! `hoist config` serializes back out.
//!
//! Every short syntax is accepted and normalized to the long syntax while deserializing
//! (ports, volumes, depends_on, environment, healthcheck.test, build, ...); output is the
//! canonical long form `docker compose config` prints. Every struct rejects unknown keys;
//! `x-*` keys are stripped by the loader's deserializer and kept in `extensions` maps.
//!
//! Not for: loading files, interpolation, merging, or project-level defaults and path
//! resolution (see [`super::normalize`]).

pub mod ports;
pub mod service;
pub mod values;
pub mod volumes;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub use ports::{parse_port_mapping, ServicePort};
pub use service::{
    BlkioConfig, BuildConfig, CredentialSpec, DependencyCondition, DependsOn, DeployConfig,
    DevelopConfig, DeviceMapping, DeviceRequest, DiscreteResourceSpec, EnvFile, ExtendsConfig,
    GenericResource, Gpus, Healthcheck, HealthcheckTest, LoggingConfig, Placement,
    PlacementPreference, ProviderConfig, Resource, Resources, RestartPolicy, ServiceConfig,
    ServiceDependency, ServiceFileRef, ServiceHook, ServiceModelConfig, ServiceModels,
    ServiceNetworkConfig, ServiceNetworks, ThrottleDevice, UpdateConfig, WatchAction, WatchRule,
    WeightDevice,
};
pub use values::{
    split_shell_words, ByteSize, Cpus, Duration, External, FileMode, HostsList, Mapping,
    MappingWithEquals, ShellCommand, StringOrList, StringOrNumberList, Ulimit,
};
pub use volumes::{
    is_host_path, parse_volume, ServiceVolume, ServiceVolumeBind, ServiceVolumeImage,
    ServiceVolumeTmpfs, ServiceVolumeVolume, VolumeType,
};

use values::{allow_extensions, deserialize_short_or_long, ShortSyntax};

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_not_external(e: &External) -> bool {
    !e.enabled
}

/// A whole compose project. Top-level keys print in the order `docker compose config`
/// prints them (name, services, networks, volumes, secrets, configs).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct Project {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Obsolete; accepted and ignored, as compose does.
    #[serde(default, skip_serializing)]
    pub version: Option<String>,
    /// Resolved and removed by the loader; kept so the schema accepts it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<IncludeConfig>,
    #[serde(default, deserialize_with = "nullable_values")]
    pub services: IndexMap<String, ServiceConfig>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub networks: IndexMap<String, NetworkConfig>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub volumes: IndexMap<String, VolumeConfig>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub secrets: IndexMap<String, SecretConfig>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub configs: IndexMap<String, ConfigObj>,
    #[serde(
        default,
        skip_serializing_if = "IndexMap::is_empty",
        deserialize_with = "nullable_values"
    )]
    pub models: IndexMap<String, ModelConfig>,
    /// `x-*` keys, filled by the loader.
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// A mapping whose values may be null (`volumes: {data: }`), null meaning all defaults.
fn nullable_values<'de, D, T>(d: D) -> Result<IndexMap<String, T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    struct V<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de> + Default> Visitor<'de> for V<T> {
        type Value = IndexMap<String, T>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a mapping")
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(IndexMap::new())
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = IndexMap::new();
            while let Some((k, v)) = map.next_entry::<String, Option<T>>()? {
                out.insert(k, v.unwrap_or_default());
            }
            Ok(out)
        }
    }
    d.deserialize_map(V(std::marker::PhantomData))
}

/// A top-level network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct NetworkConfig {
    #[serde(default, skip_serializing_if = "is_false")]
    pub attachable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(default, skip_serializing_if = "is_not_external")]
    pub external: External,
    #[serde(default, skip_serializing_if = "is_false")]
    pub internal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipam: Option<IpamConfig>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    /// The engine-side name; normalization fills `<project>_<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// `networks.<n>.ipam`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct IpamConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
    /// `x-*` keys, filled by the loader.
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// One IPAM address pool.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IpamPool {
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub aux_addresses: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
}

/// A top-level volume.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct VolumeConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(default, skip_serializing_if = "is_not_external")]
    pub external: External,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    /// The engine-side name; normalization fills `<project>_<key>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// A top-level secret: from a file, an environment variable, or external.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct SecretConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "is_not_external")]
    pub external: External,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// A top-level config: from a file, an environment variable, inline content, or external.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct ConfigObj {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(default, skip_serializing_if = "is_not_external")]
    pub external: External,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_driver: Option<String>,
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// A top-level model (AI model runner).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct ModelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtime_flags: Vec<String>,
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// An `include` entry: a path, or `{path, project_directory, env_file}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = include_short_form)]
pub struct IncludeConfig {
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub env_file: StringOrList,
    pub path: StringOrList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_directory: Option<String>,
}

fn include_short_form(s: &mut schemars::Schema) {
    values::with_short_form(s, serde_json::json!({ "type": "string" }));
}

impl Serialize for IncludeConfig {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        IncludeConfig::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for IncludeConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_short_or_long(d)
    }
}

impl ShortSyntax for IncludeConfig {
    const EXPECTING: &'static str = "a path or a mapping with path/project_directory/env_file";
    fn from_short(s: &str) -> Result<Self, String> {
        Ok(IncludeConfig {
            path: StringOrList(vec![s.to_owned()]),
            ..Default::default()
        })
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IncludeConfig::deserialize(d)
    }
}

/// The JSON Schema of the accepted compose format, generated from this model.
///
/// Numbers and booleans are also accepted as strings (`"5"`, `"yes"`), as compose accepts
/// them (interpolation produces strings).
pub fn json_schema() -> schemars::Schema {
    let mut value = schemars::schema_for!(Project).to_value();
    accept_scalars_as_strings(&mut value);
    schemars::Schema::try_from(value).unwrap_or_default()
}

fn accept_scalars_as_strings(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(obj) => {
            let widened = match obj.get("type") {
                Some(Value::String(t))
                    if matches!(t.as_str(), "integer" | "number" | "boolean") =>
                {
                    Some(Value::Array(vec![
                        Value::String(t.clone()),
                        "string".into(),
                    ]))
                }
                Some(Value::Array(types))
                    if !types.iter().any(|t| t == "string")
                        && types.iter().any(|t| {
                            matches!(t.as_str(), Some("integer" | "number" | "boolean"))
                        }) =>
                {
                    let mut types = types.clone();
                    types.push("string".into());
                    Some(Value::Array(types))
                }
                _ => None,
            };
            if let Some(t) = widened {
                obj.insert("type".into(), t);
            }
            for child in obj.values_mut() {
                accept_scalars_as_strings(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(accept_scalars_as_strings),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
