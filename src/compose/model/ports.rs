//! Service `ports`: the short syntax (`"8080:80"`, `"127.0.0.1:5000-5010:5000"`,
//! `"[::1]:6001:6001/udp"`, plain integers) parsed into the long form compose prints.
//! A range expands into one entry per port, as compose does.

use std::fmt;
use std::net::IpAddr;

use schemars::{JsonSchema, Schema};
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::values::{deserialize_scalar_string, with_short_form, ShortSyntax};

/// One published or exposed port, in compose's long syntax.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(remote = "Self", deny_unknown_fields)]
#[schemars(transform = port_short_form)]
pub struct ServicePort {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// `ingress` (the default) or `host`.
    #[serde(default = "default_mode")]
    pub mode: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `tcp` (the default), `udp` or `sctp`.
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// Host port or range (`"8080"`, `"5000-5010"`); `None` means an ephemeral port.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "published_port"
    )]
    #[schemars(with = "Option<PublishedSchema>")]
    pub published: Option<String>,
    pub target: u16,
}

/// `published` may be written as a number or a string.
#[derive(JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)]
enum PublishedSchema {
    Number(u16),
    Text(String),
}

fn default_mode() -> String {
    "ingress".to_owned()
}

fn default_protocol() -> String {
    "tcp".to_owned()
}

fn port_short_form(s: &mut Schema) {
    with_short_form(s, serde_json::json!({ "type": ["string", "integer"] }));
}

fn published_port<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    deserialize_scalar_string(d).map(Some)
}

impl Serialize for ServicePort {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        ServicePort::serialize(self, s)
    }
}

impl<'de> Deserialize<'de> for ServicePort {
    /// One entry; a short-syntax range must go through [`deserialize_ports`].
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let entries: PortEntries = super::values::deserialize_short_or_long(d)?;
        let n = entries.0.len();
        let mut it = entries.0.into_iter();
        match (it.next(), n) {
            (Some(p), 1) => Ok(p),
            _ => Err(de::Error::custom(
                "a port range expands to several entries; use it inside a `ports` list",
            )),
        }
    }
}

/// One list item: a short-syntax string may expand to several ports.
struct PortEntries(Vec<ServicePort>);

impl ShortSyntax for PortEntries {
    const EXPECTING: &'static str =
        "a port mapping such as \"8080:80\", a port number, or a mapping with target/published";
    fn from_short(s: &str) -> Result<Self, String> {
        parse_port_mapping(s).map(PortEntries)
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut p = ServicePort::deserialize(d)?;
        p.protocol = p.protocol.to_ascii_lowercase();
        Ok(PortEntries(vec![p]))
    }
}

impl<'de> Deserialize<'de> for PortEntries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        super::values::deserialize_short_or_long(d)
    }
}

/// `ports:` list deserializer, expanding ranges.
pub(crate) fn deserialize_ports<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Vec<ServicePort>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Vec<ServicePort>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of port mappings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(e) = seq.next_element::<PortEntries>()? {
                out.extend(e.0);
            }
            Ok(out)
        }
    }
    d.deserialize_seq(V)
}

fn invalid(spec: &str) -> String {
    format!(
        "\"{spec}\" is not a valid port mapping (expected [HOST:]CONTAINER[/PROTOCOL], e.g. \"8080:80\")"
    )
}

/// Parse `[[IP:]HOST:]CONTAINER[/PROTOCOL]`, with ranges on either port.
pub fn parse_port_mapping(spec: &str) -> Result<Vec<ServicePort>, String> {
    let (rest, protocol) = match spec.rsplit_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_owned()),
    };
    if !matches!(protocol.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!(
            "\"{spec}\" is not a valid port mapping: unknown protocol \"{protocol}\" (expected tcp, udp or sctp)"
        ));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1];
    let (ip, host) = match n {
        1 => ("".to_owned(), ""),
        2 => ("".to_owned(), parts[0]),
        3 => (parts[0].to_owned(), parts[1]),
        _ => (parts[..n - 2].join(":"), parts[n - 2]),
    };
    let ip = if ip.is_empty() {
        None
    } else {
        let bare = ip
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(&ip);
        if bare.parse::<IpAddr>().is_err() {
            return Err(invalid(spec));
        }
        Some(bare.to_owned())
    };
    let (c_start, c_end) =
        parse_range(container).ok_or_else(|| range_error(spec, container, "container"))?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(parse_range(host).ok_or_else(|| range_error(spec, host, "published"))?)
    };
    let c_len = c_end - c_start;
    let mut out = Vec::new();
    for i in 0..=c_len {
        let target = c_start + i;
        let published = match host_range {
            None => None,
            Some((h_start, h_end)) if h_end - h_start == c_len => Some((h_start + i).to_string()),
            // One container port, a host range: the engine picks one port from the range.
            Some((h_start, h_end)) if c_len == 0 => Some(format!("{h_start}-{h_end}")),
            Some(_) => {
                return Err(format!(
                    "\"{spec}\" is not a valid port mapping: host and container port ranges differ in size"
                ))
            }
        };
        out.push(ServicePort {
            app_protocol: None,
            host_ip: ip.clone(),
            mode: default_mode(),
            name: None,
            protocol: protocol.clone(),
            published,
            target,
        });
    }
    Ok(out)
}

/// `80` or `8000-8005`; ports 1..=65535 (0 allowed on the host side only through long syntax).
/// Says which port of `spec` is wrong: out of range, or not a port at all.
fn range_error(spec: &str, part: &str, which: &str) -> String {
    let numeric = !part.is_empty()
        && part
            .split('-')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if numeric {
        format!("\"{spec}\" is not a valid port mapping: {which} port {part} is outside 1-65535 (or a range ends before it starts)")
    } else {
        invalid(spec)
    }
}

fn parse_range(s: &str) -> Option<(u16, u16)> {
    let port = |p: &str| -> Option<u16> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        p.parse::<u16>().ok().filter(|&v| v > 0)
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port(a)?, port(b)?);
            (a <= b).then_some((a, b))
        }
        None => port(s).map(|p| (p, p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports(yaml: &str) -> Vec<ServicePort> {
        #[derive(Deserialize)]
        struct W {
            #[serde(deserialize_with = "deserialize_ports")]
            ports: Vec<ServicePort>,
        }
        let w: W = serde_yaml::from_str(yaml).unwrap();
        w.ports
    }

    fn port_err(yaml: &str) -> String {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct W {
            #[serde(deserialize_with = "deserialize_ports")]
            ports: Vec<ServicePort>,
        }
        serde_yaml::from_str::<W>(yaml).unwrap_err().to_string()
    }

    fn summary(p: &[ServicePort]) -> Vec<String> {
        p.iter()
            .map(|p| {
                format!(
                    "{}|{}|{}|{}",
                    p.host_ip.as_deref().unwrap_or(""),
                    p.published.as_deref().unwrap_or(""),
                    p.target,
                    p.protocol
                )
            })
            .collect()
    }

    #[test]
    fn port_short_syntax_variants_expand_to_long_form() {
        let p = ports(
            r#"ports: ["3000", "3000-3002", "8000:8000", "9090-9091:8080-8081", "127.0.0.1:8001:8001",
                "127.0.0.1:5000-5010:5000", "[::1]:6001:6001", "6060:6060/udp", 4000, "49100:22"]"#,
        );
        assert_eq!(
            summary(&p),
            vec![
                "||3000|tcp",
                "||3000|tcp",
                "||3001|tcp",
                "||3002|tcp",
                "|8000|8000|tcp",
                "|9090|8080|tcp",
                "|9091|8081|tcp",
                "127.0.0.1|8001|8001|tcp",
                "127.0.0.1|5000-5010|5000|tcp",
                "::1|6001|6001|tcp",
                "|6060|6060|udp",
                "||4000|tcp",
                "|49100|22|tcp",
            ]
        );
        assert!(p.iter().all(|p| p.mode == "ingress"));
    }

    #[test]
    fn port_with_host_ip_and_no_host_port_is_ephemeral() {
        let p = ports(r#"ports: ["127.0.0.1::80", "[::1]::81", "::1:6001:6001"]"#);
        assert_eq!(
            summary(&p),
            vec!["127.0.0.1||80|tcp", "::1||81|tcp", "::1|6001|6001|tcp"]
        );
    }

    #[test]
    fn port_long_syntax_fills_defaults_and_prints_canonically() {
        let p = ports("ports: [{target: 80, published: 8080}, {target: 53, published: \"53\", protocol: UDP, mode: host, host_ip: 0.0.0.0, name: dns, app_protocol: dns}]");
        assert_eq!(
            serde_yaml::to_string(&p).unwrap(),
            "- mode: ingress\n  protocol: tcp\n  published: '8080'\n  target: 80\n\
             - app_protocol: dns\n  host_ip: 0.0.0.0\n  mode: host\n  name: dns\n  protocol: udp\n  published: '53'\n  target: 53\n"
        );
    }

    #[test]
    fn port_errors_say_what_is_expected() {
        let e = port_err("ports: [\"80:80:80\"]");
        assert!(
            e.contains(r#""80:80:80" is not a valid port mapping (expected [HOST:]CONTAINER[/PROTOCOL], e.g. "8080:80")"#),
            "{e}"
        );
        assert!(port_err("ports: [\"abc\"]").contains("is not a valid port mapping"));
        assert!(port_err("ports: [\"80/foo\"]").contains("unknown protocol"));
        assert!(port_err("ports: [\"1-3:1-2\"]").contains("ranges differ"));
        assert!(port_err("ports: [\"70000\"]").contains("is not a valid port mapping"));
        assert!(port_err("ports: [{target: 80, bogus: 1}]").contains("unknown field `bogus`"));
    }
}
