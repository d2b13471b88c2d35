//! Service `volumes`: the short syntax (`"./src:/app"`, `"data:/var/lib:ro,z"`,
//! `"/app/node_modules"`) parsed into the long form compose prints.

use schemars::{JsonSchema, Schema};
use serde::de::{self};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::values::{deserialize_short_or_long, with_short_form, ByteSize, Mapping, ShortSyntax};

/// The kind of mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum VolumeType {
    Bind,
    Volume,
    Tmpfs,
    Npipe,
    Cluster,
    Image,
}

/// One mount of a service, in compose's long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = volume_short_form)]
pub struct ServiceVolume {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<ServiceVolumeBind>,
    /// `cached`, `delegated` or `consistent`: accepted for compatibility, no effect on Linux.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ServiceVolumeImage>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Host path (bind), volume name (volume), or none (anonymous volume, tmpfs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<ServiceVolumeTmpfs>,
    #[serde(rename = "type")]
    pub kind: VolumeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<ServiceVolumeVolume>,
}

/// Options of a bind mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeBind {
    /// Create the host path when missing (`true` unless set to `false`).
    #[serde(default = "default_true")]
    pub create_host_path: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<String>,
    /// `z` (shared) or `Z` (private) SELinux relabeling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
}

impl Default for ServiceVolumeBind {
    fn default() -> Self {
        ServiceVolumeBind {
            create_host_path: true,
            propagation: None,
            recursive: None,
            selinux: None,
        }
    }
}

fn default_true() -> bool {
    true
}

/// Options of a named or anonymous volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeVolume {
    #[serde(default, skip_serializing_if = "Mapping::is_empty")]
    pub labels: Mapping,
    /// Do not copy the image's content at the target into a new volume.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeTmpfs {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<ByteSize>,
}

/// Options of an image mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceVolumeImage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

fn volume_short_form(s: &mut Schema) {
    with_short_form(s, serde_json::json!({ "type": "string" }));
}

impl Serialize for ServiceVolume {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ServiceVolume::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for ServiceVolume {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_short_or_long(d)
    }
}

impl ShortSyntax for ServiceVolume {
    const EXPECTING: &'static str =
        "a volume such as \"./src:/app\" or \"data:/var/lib/data:ro\", or a mapping with type/source/target";
    fn from_short(s: &str) -> Result<Self, String> {
        parse_volume(s)
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = ServiceVolume::deserialize(d)?;
        if v.target.is_empty() {
            return Err(de::Error::custom("a volume needs a non-empty `target`"));
        }
        // compose's default: a bind mount creates a missing host path.
        if v.kind == VolumeType::Bind && v.bind.is_none() {
            v.bind = Some(ServiceVolumeBind::default());
        }
        Ok(v)
    }
}

impl ServiceVolume {
    fn new(kind: VolumeType, source: Option<String>, target: String) -> Self {
        ServiceVolume {
            bind: None,
            consistency: None,
            image: None,
            read_only: false,
            source,
            target,
            tmpfs: None,
            kind,
            volume: None,
        }
    }
}

/// True when a short-syntax source is a host path rather than a volume name.
pub fn is_host_path(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// Parse `[SOURCE:]TARGET[:OPTIONS]`.
pub fn parse_volume(spec: &str) -> Result<ServiceVolume, String> {
    let invalid = || {
        format!(
            "\"{spec}\" is not a valid volume (expected [SOURCE:]TARGET[:OPTIONS], e.g. \"./src:/app\" or \"data:/var/lib/data:ro\")"
        )
    };
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(invalid());
    }
    let (source, target, options) = match parts.as_slice() {
        [target] => (None, *target, None),
        [source, target] => (Some(*source), *target, None),
        [source, target, options] => (Some(*source), *target, Some(*options)),
        _ => return Err(invalid()),
    };
    let mut v = match source {
        None => {
            let mut v = ServiceVolume::new(VolumeType::Volume, None, target.to_owned());
            v.volume = Some(ServiceVolumeVolume::default());
            v
        }
        Some(src) if is_host_path(src) => {
            let mut v =
                ServiceVolume::new(VolumeType::Bind, Some(src.to_owned()), target.to_owned());
            v.bind = Some(ServiceVolumeBind::default());
            v
        }
        Some(name) => {
            let mut v =
                ServiceVolume::new(VolumeType::Volume, Some(name.to_owned()), target.to_owned());
            v.volume = Some(ServiceVolumeVolume::default());
            v
        }
    };
    for opt in options.into_iter().flat_map(|o| o.split(',')) {
        match opt {
            "ro" => v.read_only = true,
            "rw" => v.read_only = false,
            "z" | "Z" => match v.bind.as_mut() {
                Some(b) => b.selinux = Some(opt.to_owned()),
                None => return Err(bind_only(spec, opt)),
            },
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                match v.bind.as_mut() {
                    Some(b) => b.propagation = Some(opt.to_owned()),
                    None => return Err(bind_only(spec, opt)),
                }
            }
            "nocopy" => match v.volume.as_mut() {
                Some(vol) => vol.nocopy = true,
                None => {
                    return Err(format!(
                        "\"{spec}\" is not a valid volume: option \"nocopy\" applies to named volumes only"
                    ))
                }
            },
            "cached" | "delegated" | "consistent" => v.consistency = Some(opt.to_owned()),
            other => {
                return Err(format!(
                    "\"{spec}\" is not a valid volume: unknown option \"{other}\" (expected ro, rw, z, Z, nocopy, a propagation mode, cached, delegated or consistent)"
                ))
            }
        }
    }
    Ok(v)
}

fn bind_only(spec: &str, opt: &str) -> String {
    format!("\"{spec}\" is not a valid volume: option \"{opt}\" applies to bind mounts only")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(yaml: &str) -> ServiceVolume {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn volume_short_bind_is_bind_with_create_host_path() {
        let v = vol("./src:/app");
        assert_eq!(v.kind, VolumeType::Bind);
        assert_eq!(v.source.as_deref(), Some("./src"));
        assert_eq!(v.target, "/app");
        assert!(v.bind.as_ref().unwrap().create_host_path);
        assert_eq!(
            serde_yaml::to_string(&v).unwrap(),
            "bind:\n  create_host_path: true\nsource: ./src\ntarget: /app\ntype: bind\n"
        );
        let v = vol("/abs:/x:ro");
        assert!(v.read_only);
        let v = vol("~/cfg:/cfg:ro,z");
        assert!(v.read_only);
        assert_eq!(v.bind.unwrap().selinux.as_deref(), Some("z"));
    }

    #[test]
    fn volume_short_named_and_anonymous() {
        let v = vol("data:/var/lib");
        assert_eq!(v.kind, VolumeType::Volume);
        assert_eq!(v.source.as_deref(), Some("data"));
        assert_eq!(
            serde_yaml::to_string(&v).unwrap(),
            "source: data\ntarget: /var/lib\ntype: volume\nvolume: {}\n"
        );
        let v = vol("/app/node_modules");
        assert_eq!(v.kind, VolumeType::Volume);
        assert_eq!(v.source, None);
        let v = vol("data:/d:nocopy,delegated");
        assert!(v.volume.unwrap().nocopy);
        assert_eq!(v.consistency.as_deref(), Some("delegated"));
        for opt in ["rw", "Z", "cached", "consistent", "rshared"] {
            vol(&format!("./a:/b:{opt}"));
        }
    }

    #[test]
    fn volume_long_form_all_types() {
        let v = vol("{type: bind, source: ., target: /x, bind: {propagation: rslave}}");
        let b = v.bind.unwrap();
        assert!(b.create_host_path);
        assert_eq!(b.propagation.as_deref(), Some("rslave"));
        let v = vol("{type: bind, source: ., target: /x, bind: {create_host_path: false}}");
        assert!(!v.bind.unwrap().create_host_path);
        let v = vol("{type: bind, source: ., target: /x}");
        assert!(v.bind.unwrap().create_host_path);
        let v = vol("{type: volume, source: d, target: /x, read_only: true, volume: {nocopy: true, subpath: sub}}");
        assert_eq!(v.volume.unwrap().subpath.as_deref(), Some("sub"));
        let v = vol("{type: tmpfs, target: /t, tmpfs: {size: 64m, mode: 1777}}");
        let t = v.tmpfs.unwrap();
        assert_eq!(t.size, Some(ByteSize(64 * 1024 * 1024)));
        assert_eq!(t.mode, Some(1777));
        vol("{type: npipe, source: x, target: y}");
        vol("{type: cluster, source: x, target: y}");
    }

    #[test]
    fn volume_errors_say_what_is_expected() {
        let e = serde_yaml::from_str::<ServiceVolume>("\"a:b:c:d\"")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("\"a:b:c:d\" is not a valid volume (expected [SOURCE:]TARGET[:OPTIONS]"),
            "{e}"
        );
        let e = serde_yaml::from_str::<ServiceVolume>("\"./a:/b:bogus\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown option \"bogus\""), "{e}");
        let e = serde_yaml::from_str::<ServiceVolume>("\"d:/b:z\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("bind mounts only"), "{e}");
        let e = serde_yaml::from_str::<ServiceVolume>("{type: bogus, target: /x}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant"), "{e}");
        let e = serde_yaml::from_str::<ServiceVolume>("{type: volume, target: /x, extra: 1}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `extra`"), "{e}");
    }
}
