//! One service's configuration (`services.<name>`) and the value types only services use:
//! build, healthcheck, depends_on, deploy, networks, env_file, secrets/configs references,
//! develop.watch, logging, devices, hooks.

use std::borrow::Cow;
use std::fmt;

use indexmap::IndexMap;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::ports::{deserialize_ports, ServicePort};
use super::values::{
    allow_extensions, deserialize_micros, deserialize_scalar_string, deserialize_short_or_long,
    with_short_form, ByteSize, Cpus, Duration, FileMode, HostsList, Mapping, MappingWithEquals,
    ShellCommand, ShortSyntax, StringOrList, StringOrNumberList, Ulimit,
};
use super::volumes::ServiceVolume;

fn is_false(b: &bool) -> bool {
    !*b
}

/// The configuration of one service, with every short syntax normalized to the long one.
/// Fields are in alphabetical order, which is how `docker compose config` prints them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct ServiceConfig {
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub annotations: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blkio_config: Option<BlkioConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build: Option<BuildConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_parent: Option<String>,
    /// `None`: the image's CMD; `Some([])`: cleared (`command: []` or `""`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<ShellCommand>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ServiceFileRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_period: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_quota: Option<i64>,
    /// Microseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_micros"
    )]
    #[schemars(with = "Option<ByteSize>")]
    pub cpu_rt_period: Option<i64>,
    /// Microseconds.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "deserialize_micros"
    )]
    #[schemars(with = "Option<ByteSize>")]
    pub cpu_rt_runtime: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_shares: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpuset: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_spec: Option<CredentialSpec>,
    #[serde(default, skip_serializing_if = "DependsOn::is_empty")]
    pub depends_on: DependsOn,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy: Option<DeployConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub develop: Option<DevelopConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_cgroup_rules: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceMapping>,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub dns: StringOrList,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub dns_search: StringOrList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domainname: Option<String>,
    /// `None`: the image's ENTRYPOINT; `Some([])`: cleared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<ShellCommand>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "deserialize_env_files"
    )]
    #[schemars(schema_with = "env_files_schema")]
    pub env_file: Vec<EnvFile>,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub environment: MappingWithEquals,
    #[serde(default, skip_serializing_if = "StringOrNumberList::is_empty")]
    pub expose: StringOrNumberList,
    /// Resolved and removed by the loader; kept so the schema accepts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<ExtendsConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub external_links: Vec<String>,
    #[serde(default, skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpus: Option<Gpus>,
    #[serde(default, skip_serializing_if = "StringOrNumberList::is_empty")]
    pub group_add: StringOrNumberList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub label_file: StringOrList,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<LoggingConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_limit: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_reservation: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mem_swappiness: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memswap_limit: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<ServiceModels>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    #[serde(default, skip_serializing_if = "ServiceNetworks::is_empty")]
    pub networks: ServiceNetworks,
    #[serde(default, skip_serializing_if = "is_false")]
    pub oom_kill_disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oom_score_adj: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids_limit: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "deserialize_ports"
    )]
    pub ports: Vec<ServicePort>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub post_start: Vec<ServiceHook>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_stop: Vec<ServiceHook>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderConfig>,
    /// `always`, `never`, `missing`, `build`, `if_not_present`, `daily`, `weekly`, `every_<d>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    /// With `pull_policy: refresh`: how old an image may get before it is pulled again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_refresh_after: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// `no`, `always`, `on-failure[:N]`, `unless-stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceFileRef>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub stdin_open: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub storage_opt: IndexMap<String, String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub sysctls: Mapping,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub tmpfs: StringOrList,
    #[serde(default, skip_serializing_if = "is_false")]
    pub tty: bool,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, Ulimit>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub use_api_socket: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uts: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_driver: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes_from: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// `x-*` keys, filled by the loader.
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

impl ServiceConfig {
    /// The service's configuration fingerprint (`com.docker.compose.config-hash`): sha256 hex
    /// of its canonical JSON without `build`, `pull_policy`, `scale`, `deploy.replicas`,
    /// `depends_on` and `profiles`, which do not change the container itself.
    pub fn config_hash(&self) -> String {
        let mut value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let Some(obj) = value.as_object_mut() {
            for key in ["build", "pull_policy", "scale", "depends_on", "profiles"] {
                obj.shift_remove(key);
            }
            if let Some(deploy) = obj.get_mut("deploy").and_then(|d| d.as_object_mut()) {
                deploy.shift_remove("replicas");
            }
        }
        let canonical = serde_json::to_string(&value).unwrap_or_default();
        Sha256::digest(canonical.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Number of containers wanted: `scale`, else `deploy.replicas`, else 1.
    pub fn replicas(&self) -> u64 {
        self.scale
            .or_else(|| self.deploy.as_ref().and_then(|d| d.replicas))
            .unwrap_or(1)
    }
}

// ---------------------------------------------------------------------------------------------
// build

/// `build:` — a context path, or the full mapping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = string_short_form)]
pub struct BuildConfig {
    /// Named contexts (`name: path-or-url`); map or `name=value` list.
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub additional_contexts: Mapping,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub args: MappingWithEquals,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub cache_from: StringOrList,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub cache_to: StringOrList,
    /// Build context; `.` when omitted (filled by normalization).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub context: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dockerfile_inline: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entitlements: Vec<String>,
    #[serde(default, skip_serializing_if = "HostsList::is_empty")]
    pub extra_hosts: HostsList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub no_cache: bool,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub no_cache_filter: StringOrList,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub platforms: StringOrList,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_scalar"
    )]
    pub provenance: Option<String>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub pull: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_scalar"
    )]
    pub sbom: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ServiceFileRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shm_size: Option<ByteSize>,
    /// SSH agent sockets or keys: `default` or `id=path`.
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub ssh: Mapping,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub tags: StringOrList,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub ulimits: IndexMap<String, Ulimit>,
    /// `x-*` keys, filled by the loader.
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

fn string_short_form(s: &mut Schema) {
    with_short_form(s, serde_json::json!({ "type": "string" }));
}

fn optional_scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    deserialize_scalar_string(d).map(Some)
}

/// Implements `Serialize` through the derived (remote = "Self") impl and `Deserialize`
/// through [`ShortSyntax`].
macro_rules! short_or_long_serde {
    ($t:ty) => {
        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                <$t>::serialize(self, s)
            }
        }
        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_short_or_long(d)
            }
        }
    };
}

short_or_long_serde!(BuildConfig);

impl ShortSyntax for BuildConfig {
    const EXPECTING: &'static str = "a build context path or a build mapping";
    fn from_short(s: &str) -> Result<Self, String> {
        Ok(BuildConfig {
            context: s.to_owned(),
            ..Default::default()
        })
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        BuildConfig::deserialize(d)
    }
}

// ---------------------------------------------------------------------------------------------
// healthcheck

/// `healthcheck:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    #[serde(default, skip_serializing_if = "is_false")]
    pub disable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_interval: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<HealthcheckTest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

impl Healthcheck {
    /// True when the healthcheck is turned off (`disable: true` or `test: ["NONE"]`).
    pub fn is_disabled(&self) -> bool {
        self.disable
            || self
                .test
                .as_ref()
                .is_some_and(|t| t.first().is_some_and(|c| c == "NONE"))
    }
}

/// `healthcheck.test`: a string means `["CMD-SHELL", string]`; a list is kept as written
/// (`["CMD", ...]`, `["CMD-SHELL", ...]`, `["NONE"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct HealthcheckTest(pub Vec<String>);

impl std::ops::Deref for HealthcheckTest {
    type Target = Vec<String>;
    fn deref(&self) -> &Vec<String> {
        &self.0
    }
}

impl<'de> Deserialize<'de> for HealthcheckTest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HealthcheckTest;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or a list such as [\"CMD\", \"curl\", \"-f\", \"http://localhost\"]")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<HealthcheckTest, E> {
                Ok(HealthcheckTest(vec!["CMD-SHELL".to_owned(), v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<HealthcheckTest, A::Error> {
                let l = StringOrList::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(HealthcheckTest(l.0))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for HealthcheckTest {
    fn schema_name() -> Cow<'static, str> {
        "HealthcheckTest".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        StringOrList::json_schema(g)
    }
}

// ---------------------------------------------------------------------------------------------
// depends_on

/// When a dependency counts as ready.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DependencyCondition {
    #[default]
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// One `depends_on` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceDependency {
    #[serde(default)]
    pub condition: DependencyCondition,
    /// A missing optional dependency only warns.
    #[serde(default = "default_true")]
    pub required: bool,
    /// Restart this service when the dependency is updated.
    #[serde(default, skip_serializing_if = "is_false")]
    pub restart: bool,
}

impl Default for ServiceDependency {
    fn default() -> Self {
        ServiceDependency {
            condition: DependencyCondition::ServiceStarted,
            required: true,
            restart: false,
        }
    }
}

fn default_true() -> bool {
    true
}

/// `depends_on:` — a list of names (each `service_started`, required) or the long mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DependsOn(pub IndexMap<String, ServiceDependency>);

impl std::ops::Deref for DependsOn {
    type Target = IndexMap<String, ServiceDependency>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for DependsOn {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl DependsOn {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for DependsOn {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DependsOn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of service names or a mapping of service name to {condition, required, restart}")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<DependsOn, A::Error> {
                let mut out = IndexMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    out.insert(name, ServiceDependency::default());
                }
                Ok(DependsOn(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<DependsOn, A::Error> {
                let mut out = IndexMap::new();
                while let Some((name, dep)) =
                    map.next_entry::<String, Option<ServiceDependency>>()?
                {
                    out.insert(name, dep.unwrap_or_default());
                }
                Ok(DependsOn(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for DependsOn {
    fn schema_name() -> Cow<'static, str> {
        "DependsOn".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let dep = g.subschema_for::<ServiceDependency>();
        json_schema!({
            "anyOf": [
                { "type": "array", "items": { "type": "string" } },
                { "type": "object", "additionalProperties": dep }
            ]
        })
    }
}

// ---------------------------------------------------------------------------------------------
// env_file, extends, secrets/configs references

/// One `env_file` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = string_short_form)]
pub struct EnvFile {
    /// `raw` reads values literally (no quotes or interpolation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    pub path: String,
    /// A missing optional file is skipped.
    #[serde(default = "default_true")]
    pub required: bool,
}

short_or_long_serde!(EnvFile);

impl ShortSyntax for EnvFile {
    const EXPECTING: &'static str = "a path or a mapping with path/required/format";
    fn from_short(s: &str) -> Result<Self, String> {
        Ok(EnvFile {
            format: None,
            path: s.to_owned(),
            required: true,
        })
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        EnvFile::deserialize(d)
    }
}

fn deserialize_env_files<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<EnvFile>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<EnvFile>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a path or a list of paths / {path, required, format} mappings")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<Vec<EnvFile>, E> {
            Ok(vec![EnvFile {
                format: None,
                path: v.to_owned(),
                required: true,
            }])
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<EnvFile>, A::Error> {
            let mut out = Vec::new();
            while let Some(e) = seq.next_element::<EnvFile>()? {
                out.push(e);
            }
            Ok(out)
        }
    }
    d.deserialize_any(V)
}

fn env_files_schema(g: &mut SchemaGenerator) -> Schema {
    let item = g.subschema_for::<EnvFile>();
    json_schema!({ "anyOf": [ { "type": "string" }, { "type": "array", "items": item } ] })
}

/// `extends:` — a service name in this file, or `{service, file}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = string_short_form)]
pub struct ExtendsConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    pub service: String,
}

short_or_long_serde!(ExtendsConfig);

impl ShortSyntax for ExtendsConfig {
    const EXPECTING: &'static str = "a service name or a mapping with service/file";
    fn from_short(s: &str) -> Result<Self, String> {
        Ok(ExtendsConfig {
            file: None,
            service: s.to_owned(),
        })
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ExtendsConfig::deserialize(d)
    }
}

/// A service's reference to a top-level secret or config.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = string_short_form)]
pub struct ServiceFileRef {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_scalar"
    )]
    pub gid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<FileMode>,
    pub source: String,
    /// In-container path; `None` means `/run/secrets/<source>` for secrets (filled by the engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "optional_scalar"
    )]
    pub uid: Option<String>,
}

short_or_long_serde!(ServiceFileRef);

impl ShortSyntax for ServiceFileRef {
    const EXPECTING: &'static str = "a name or a mapping with source/target/uid/gid/mode";
    fn from_short(s: &str) -> Result<Self, String> {
        Ok(ServiceFileRef {
            source: s.to_owned(),
            ..Default::default()
        })
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ServiceFileRef::deserialize(d)
    }
}

// ---------------------------------------------------------------------------------------------
// networks

/// A service's attachment to one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceNetworkConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub driver_opts: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gw_priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interface_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub link_local_ips: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
}

/// `networks:` of a service — a list of names or a mapping name -> null | settings.
/// A name without settings is `None` (printed `name: null`, as compose does).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ServiceNetworks(pub IndexMap<String, Option<ServiceNetworkConfig>>);

impl std::ops::Deref for ServiceNetworks {
    type Target = IndexMap<String, Option<ServiceNetworkConfig>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for ServiceNetworks {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl ServiceNetworks {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for ServiceNetworks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServiceNetworks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of network names or a mapping of network name to settings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ServiceNetworks, A::Error> {
                let mut out = IndexMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    out.insert(name, None);
                }
                Ok(ServiceNetworks(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServiceNetworks, A::Error> {
                let mut out = IndexMap::new();
                while let Some((k, v)) = map.next_entry::<String, Option<ServiceNetworkConfig>>()? {
                    out.insert(k, v);
                }
                Ok(ServiceNetworks(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ServiceNetworks {
    fn schema_name() -> Cow<'static, str> {
        "ServiceNetworks".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let cfg = g.subschema_for::<Option<ServiceNetworkConfig>>();
        json_schema!({
            "anyOf": [
                { "type": "array", "items": { "type": "string" } },
                { "type": "object", "additionalProperties": cfg }
            ]
        })
    }
}

// ---------------------------------------------------------------------------------------------
// models

/// `models:` of a service — a list of model names or a mapping name -> {endpoint_var, model_var}.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct ServiceModels(pub IndexMap<String, Option<ServiceModelConfig>>);

/// How a model is exposed to a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceModelConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_var: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_var: Option<String>,
}

impl<'de> Deserialize<'de> for ServiceModels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServiceModels;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of model names or a mapping of model name to settings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ServiceModels, A::Error> {
                let mut out = IndexMap::new();
                while let Some(name) = seq.next_element::<String>()? {
                    out.insert(name, None);
                }
                Ok(ServiceModels(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServiceModels, A::Error> {
                let mut out = IndexMap::new();
                while let Some((k, v)) = map.next_entry::<String, Option<ServiceModelConfig>>()? {
                    out.insert(k, v);
                }
                Ok(ServiceModels(out))
            }
        }
        d.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------------
// deploy

/// `deploy:`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct DeployConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    /// `x-*` keys, filled by the loader.
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// `deploy.resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Resource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Resource>,
}

/// `deploy.resources.limits` / `.reservations`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpus: Option<Cpus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<DeviceRequest>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<GenericResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<ByteSize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

/// A device reservation (GPUs and the like).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceRequest {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// Number of devices; `all` is -1.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "device_count"
    )]
    #[schemars(with = "Option<serde_json::Value>")]
    pub count: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_ids: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
}

fn device_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let s = deserialize_scalar_string(d)?;
    if s.eq_ignore_ascii_case("all") {
        return Ok(Some(-1));
    }
    s.parse().map(Some).map_err(|_| {
        de::Error::custom(format!(
            "\"{s}\" is not a valid device count (expected a number or \"all\")"
        ))
    })
}

/// `gpus:` — `all`, or a list of device requests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Gpus(pub Vec<DeviceRequest>);

impl<'de> Deserialize<'de> for Gpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Gpus;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("\"all\" or a list of device requests")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Gpus, E> {
                if v.eq_ignore_ascii_case("all") {
                    Ok(Gpus(vec![DeviceRequest {
                        count: Some(-1),
                        ..Default::default()
                    }]))
                } else {
                    Err(E::custom(format!(
                        "\"{v}\" is not a valid gpus value (expected \"all\" or a list)"
                    )))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Gpus, A::Error> {
                Vec::<DeviceRequest>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(Gpus)
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for Gpus {
    fn schema_name() -> Cow<'static, str> {
        "Gpus".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let item = g.subschema_for::<DeviceRequest>();
        json_schema!({ "anyOf": [ { "const": "all" }, { "type": "array", "items": item } ] })
    }
}

/// A generic resource reservation (`discrete_resource_spec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GenericResource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discrete_resource_spec: Option<DiscreteResourceSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscreteResourceSpec {
    pub kind: String,
    pub value: i64,
}

/// `deploy.restart_policy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Duration>,
}

/// `deploy.placement`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Placement {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_replicas_per_node: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacementPreference {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<String>,
}

/// `deploy.update_config` / `deploy.rollback_config`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_failure_ratio: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Duration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// develop

/// `develop:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DevelopConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub watch: Vec<WatchRule>,
}

/// What `develop.watch` does when a path changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum WatchAction {
    #[serde(rename = "sync")]
    Sync,
    #[serde(rename = "rebuild")]
    Rebuild,
    #[serde(rename = "restart")]
    Restart,
    #[serde(rename = "sync+restart")]
    SyncRestart,
    #[serde(rename = "sync+exec")]
    SyncExec,
}

/// One `develop.watch` rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WatchRule {
    pub action: WatchAction,
    /// Command run in the container after a `sync+exec` sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ServiceHook>,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub ignore: StringOrList,
    #[serde(default, skip_serializing_if = "StringOrList::is_empty")]
    pub include: StringOrList,
    #[serde(default, skip_serializing_if = "is_false")]
    pub initial_sync: bool,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A command run inside the container (`post_start`, `pre_stop`, `develop.watch[].exec`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceHook {
    pub command: ShellCommand,
    #[serde(default, skip_serializing_if = "MappingWithEquals::is_empty")]
    pub environment: MappingWithEquals,
    #[serde(default, skip_serializing_if = "is_false")]
    pub privileged: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// small service sections

/// `logging:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = allow_extensions)]
pub struct LoggingConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub options: Mapping,
    /// `x-*` keys, filled by the loader.
    #[serde(skip_deserializing, flatten)]
    pub extensions: IndexMap<String, serde_json::Value>,
}

/// `provider:` — a service implemented by an external provider plugin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub options: IndexMap<String, StringOrList>,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `credential_spec:` (Windows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
}

/// `blkio_config:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BlkioConfig {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub device_write_iops: Vec<ThrottleDevice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub weight_device: Vec<WeightDevice>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: ByteSize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightDevice {
    pub path: String,
    pub weight: u16,
}

/// `devices:` entry — `HOST[:CONTAINER[:PERMISSIONS]]` or the long mapping.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = string_short_form)]
pub struct DeviceMapping {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<String>,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

short_or_long_serde!(DeviceMapping);

impl ShortSyntax for DeviceMapping {
    const EXPECTING: &'static str =
        "a device such as \"/dev/ttyUSB0:/dev/ttyUSB0:rwm\" or a mapping";
    fn from_short(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        let (source, target, perms) = match parts.as_slice() {
            [src] => (*src, *src, "rwm"),
            [src, dst] => (*src, *dst, "rwm"),
            [src, dst, perms] => (*src, *dst, *perms),
            _ => {
                return Err(format!(
                    "\"{s}\" is not a valid device (expected HOST[:CONTAINER[:PERMISSIONS]], e.g. \"/dev/fuse:/dev/fuse:rwm\")"
                ))
            }
        };
        if source.is_empty() || target.is_empty() {
            return Err(format!("\"{s}\" is not a valid device (empty path)"));
        }
        Ok(DeviceMapping {
            permissions: Some(perms.to_owned()),
            source: source.to_owned(),
            target: Some(target.to_owned()),
        })
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DeviceMapping::deserialize(d)
    }
}
