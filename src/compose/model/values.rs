//! Value types shared by the model: durations, byte sizes, file modes, CPU counts, the
//! map-or-list mappings (`environment`, `labels`, ...), string-or-list values and shell
//! commands. Each accepts every spelling compose accepts and prints the way
//! `docker compose config` prints it. Not for compose structure (see the sibling modules).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};

use indexmap::IndexMap;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

// ---------------------------------------------------------------------------------------------
// Short/long syntax plumbing

/// A model type with a scalar short syntax and a mapping long syntax.
///
/// [`ShortOrLongVisitor`] dispatches scalars to [`ShortSyntax::from_short`] and mappings to
/// [`ShortSyntax::from_long`] (the derived, `deny_unknown_fields` decoder), so one visitor
/// serves ports, volumes, secrets, build, ... without `untagged`, which would lose the
/// deserializer's error positions and messages.
pub(crate) trait ShortSyntax: Sized {
    /// What the value may be, for "invalid type" errors.
    const EXPECTING: &'static str;
    /// Parse the scalar form (numbers and booleans arrive formatted as strings).
    fn from_short(s: &str) -> Result<Self, String>;
    /// Decode the mapping form.
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error>;
}

pub(crate) struct ShortOrLongVisitor<T>(pub PhantomData<T>);

impl<'de, T: ShortSyntax> Visitor<'de> for ShortOrLongVisitor<T> {
    type Value = T;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(T::EXPECTING)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        T::from_short(v).map_err(E::custom)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<T, E> {
        self.visit_str(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<T, E> {
        self.visit_str(if v { "true" } else { "false" })
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::from_long(de::value::MapAccessDeserializer::new(SkipExtensions(map)))
    }
}

/// A long form read through `deserialize_any` still ignores `x-*` keys (the loader keeps them).
struct SkipExtensions<A>(A);

impl<'de, A: MapAccess<'de>> MapAccess<'de> for SkipExtensions<A> {
    type Error = A::Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        loop {
            let Some(key) = self.0.next_key::<String>()? else {
                return Ok(None);
            };
            if key.starts_with("x-") {
                self.0.next_value::<de::IgnoredAny>()?;
                continue;
            }
            return seed
                .deserialize(de::IntoDeserializer::<A::Error>::into_deserializer(key))
                .map(Some);
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, A::Error> {
        self.0.next_value_seed(seed)
    }
}

pub(crate) fn deserialize_short_or_long<'de, D: Deserializer<'de>, T: ShortSyntax>(
    d: D,
) -> Result<T, D::Error> {
    d.deserialize_any(ShortOrLongVisitor::<T>(PhantomData))
}

/// Wrap a derived (long form) schema so it also accepts a scalar short form.
pub(crate) fn with_short_form(schema: &mut Schema, short: serde_json::Value) {
    let long = std::mem::take(schema);
    *schema = json_schema!({ "anyOf": [short, long] });
}

/// Schema transform: also allow `x-*` extension keys on a `deny_unknown_fields` struct.
pub(crate) fn allow_extensions(schema: &mut Schema) {
    schema.insert("patternProperties".into(), serde_json::json!({ "^x-": {} }));
}

/// Formats a scalar visit as the string a short-syntax parser sees.
struct ScalarString;

impl Visitor<'_> for ScalarString {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number or boolean")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// A scalar of any type, as a string (compose accepts `"80"` and `80` alike in most places).
pub(crate) fn deserialize_scalar_string<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<String, D::Error> {
    d.deserialize_any(ScalarString)
}

/// A scalar or null, as an optional string.
struct OptionalScalarString;

impl<'de> Visitor<'de> for OptionalScalarString {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string, number, boolean or null")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(v.to_string()))
    }
}

struct OptScalar(Option<String>);
impl<'de> Deserialize<'de> for OptScalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(OptionalScalarString).map(OptScalar)
    }
}

struct Scalar(String);
impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_scalar_string(d).map(Scalar)
    }
}

/// Generates `Deref`/`DerefMut` to the wrapped collection plus `From`.
macro_rules! newtype_collection {
    ($name:ident, $inner:ty) => {
        impl Deref for $name {
            type Target = $inner;
            fn deref(&self) -> &$inner {
                &self.0
            }
        }
        impl DerefMut for $name {
            fn deref_mut(&mut self) -> &mut $inner {
                &mut self.0
            }
        }
        impl $name {
            /// True when there is nothing to print (used by `skip_serializing_if`).
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }
        impl From<$inner> for $name {
            fn from(v: $inner) -> Self {
                $name(v)
            }
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Mappings

/// A `KEY: value` mapping written either as a map or as a list of `KEY=VALUE` strings
/// (`labels`, `sysctls`, `driver_opts`, `annotations`, ...). A bare `KEY` or a null value
/// becomes the empty string, as compose does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Mapping(pub IndexMap<String, String>);
newtype_collection!(Mapping, IndexMap<String, String>);

impl<'de> Deserialize<'de> for Mapping {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = d.deserialize_any(MapOrListVisitor {
            sep: '=',
            what: "KEY=VALUE",
        })?;
        Ok(Mapping(
            m.into_iter()
                .map(|(k, v)| (k, v.unwrap_or_default()))
                .collect(),
        ))
    }
}

impl JsonSchema for Mapping {
    fn schema_name() -> Cow<'static, str> {
        "ListOrDict".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        list_or_dict_schema()
    }
}

fn list_or_dict_schema() -> Schema {
    json_schema!({
        "anyOf": [
            {
                "type": "object",
                "additionalProperties": { "type": ["string", "number", "boolean", "null"] }
            },
            { "type": "array", "items": { "type": "string" }, "uniqueItems": true }
        ]
    })
}

/// A mapping whose values may be absent (`environment`, `build.args`): a map with
/// string/number/bool/null values, or a list of `KEY=VALUE` / bare `KEY`. A bare key or a
/// null value is `None` ("take it from the environment, or drop it").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MappingWithEquals(pub IndexMap<String, Option<String>>);
newtype_collection!(MappingWithEquals, IndexMap<String, Option<String>>);

impl<'de> Deserialize<'de> for MappingWithEquals {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(MapOrListVisitor {
            sep: '=',
            what: "KEY=VALUE",
        })
        .map(MappingWithEquals)
    }
}

impl JsonSchema for MappingWithEquals {
    fn schema_name() -> Cow<'static, str> {
        "ListOrDict".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        list_or_dict_schema()
    }
}

struct MapOrListVisitor {
    sep: char,
    what: &'static str,
}

impl<'de> Visitor<'de> for MapOrListVisitor {
    type Value = IndexMap<String, Option<String>>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a mapping or a list of \"{}\" strings", self.what)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::new();
        while let Some((k, v)) = map.next_entry::<Scalar, OptScalar>()? {
            out.insert(k.0, v.0);
        }
        Ok(out)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut out = IndexMap::new();
        while let Some(item) = seq.next_element::<Scalar>()? {
            let item = item.0;
            match item.split_once(self.sep) {
                Some((k, v)) => out.insert(k.to_owned(), Some(v.to_owned())),
                None => out.insert(item, None),
            };
        }
        Ok(out)
    }
}

/// `extra_hosts`: a list of `host:ip` / `host=ip`, or a map `host: ip` (or `host: [ip, ...]`).
/// Printed as a list of `host=ip`, as current compose prints it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostsList(pub IndexMap<String, Vec<String>>);
newtype_collection!(HostsList, IndexMap<String, Vec<String>>);

impl Serialize for HostsList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(
            self.0
                .iter()
                .flat_map(|(h, ips)| ips.iter().map(move |ip| format!("{h}={ip}"))),
        )
    }
}

impl<'de> Deserialize<'de> for HostsList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = HostsList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping of host to IP, or a list of \"HOST:IP\" strings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<HostsList, A::Error> {
                let mut out: IndexMap<String, Vec<String>> = IndexMap::new();
                while let Some(k) = map.next_key::<Scalar>()? {
                    let ips = map.next_value::<StringOrList>()?;
                    out.entry(k.0).or_default().extend(ips.0);
                }
                Ok(HostsList(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<HostsList, A::Error> {
                let mut out: IndexMap<String, Vec<String>> = IndexMap::new();
                while let Some(item) = seq.next_element::<Scalar>()? {
                    let item = item.0;
                    // `=` first: `host=::1` is unambiguous; `host:ip` splits at the first colon.
                    let split = item.split_once('=').or_else(|| item.split_once(':'));
                    let Some((host, ip)) = split else {
                        return Err(de::Error::custom(format!(
                            "\"{item}\" is not a valid extra host (expected HOST:IP or HOST=IP, e.g. \"db:10.0.0.5\")"
                        )));
                    };
                    let ip = ip.trim_start_matches('[').trim_end_matches(']');
                    out.entry(host.to_owned()).or_default().push(ip.to_owned());
                }
                Ok(HostsList(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for HostsList {
    fn schema_name() -> Cow<'static, str> {
        "ExtraHosts".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                {
                    "type": "object",
                    "additionalProperties": {
                        "anyOf": [
                            { "type": "string" },
                            { "type": "array", "items": { "type": "string" } }
                        ]
                    }
                },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Lists

/// A single string or a list of strings (`dns`, `tmpfs`, `cache_from`, `include.path`, ...).
/// Always printed as a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StringOrList(pub Vec<String>);
newtype_collection!(StringOrList, Vec<String>);

impl<'de> Deserialize<'de> for StringOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StringOrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StringOrList, E> {
                Ok(StringOrList(vec![v.to_owned()]))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StringOrList, E> {
                Ok(StringOrList(vec![v.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StringOrList, E> {
                Ok(StringOrList(vec![v.to_string()]))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<StringOrList, E> {
                Ok(StringOrList(vec![v.to_string()]))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<StringOrList, E> {
                Ok(StringOrList(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StringOrList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Scalar>()? {
                    out.push(s.0);
                }
                Ok(StringOrList(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StringOrList {
    fn schema_name() -> Cow<'static, str> {
        "StringOrList".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// A list of strings whose items may be written as numbers (`expose: [80, "443"]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StringOrNumberList(pub Vec<String>);
newtype_collection!(StringOrNumberList, Vec<String>);

impl<'de> Deserialize<'de> for StringOrNumberList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        StringOrList::deserialize(d).map(|l| StringOrNumberList(l.0))
    }
}

impl JsonSchema for StringOrNumberList {
    fn schema_name() -> Cow<'static, str> {
        "StringOrNumberList".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": ["string", "number"] },
                { "type": "array", "items": { "type": ["string", "number"] } }
            ]
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Commands

/// `command` / `entrypoint` / hook commands: a string (split with shell quoting rules, as
/// compose-go's shellwords does) or a list. Printed as a list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ShellCommand(pub Vec<String>);
newtype_collection!(ShellCommand, Vec<String>);

impl<'de> Deserialize<'de> for ShellCommand {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ShellCommand;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a command string or a list of arguments")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ShellCommand, E> {
                split_shell_words(v).map(ShellCommand).map_err(E::custom)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ShellCommand, E> {
                Ok(ShellCommand(vec![v.to_string()]))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ShellCommand, E> {
                Ok(ShellCommand(vec![v.to_string()]))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ShellCommand, E> {
                Ok(ShellCommand(vec![v.to_string()]))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<ShellCommand, E> {
                Ok(ShellCommand(vec![v.to_string()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ShellCommand, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<Scalar>()? {
                    out.push(s.0);
                }
                Ok(ShellCommand(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ShellCommand {
    fn schema_name() -> Cow<'static, str> {
        "Command".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": "null" },
                { "type": "string" },
                { "type": "array", "items": { "type": "string" } }
            ]
        })
    }
}

/// Split a command line into words with POSIX shell quoting (no expansion): whitespace
/// separates words, `'...'` is literal, `"..."` honours `\"`, `\\`, `\$`, `` \` ``, and a
/// backslash outside quotes escapes the next character.
pub fn split_shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(n) => cur.push(n),
                    None => cur.push('\\'),
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(unterminated(line, '\'')),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err(unterminated(line, '"')),
                        },
                        Some(n) => cur.push(n),
                        None => return Err(unterminated(line, '"')),
                    }
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn unterminated(line: &str, quote: char) -> String {
    format!("\"{line}\" is not a valid command: unterminated {quote} quote")
}

// ---------------------------------------------------------------------------------------------
// Durations

/// A Go-syntax duration (`1m30s`, `10s`, `1h`, `500ms`, `2us`, `1.5h`), stored in
/// nanoseconds and printed as Go prints it (`1m30s`, `1h0m0s`, `500ms`), like compose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration(pub i64);

impl Duration {
    pub fn from_secs(s: i64) -> Self {
        Duration(s.saturating_mul(1_000_000_000))
    }
    pub fn as_nanos(self) -> i64 {
        self.0
    }
    /// As a `std::time::Duration` (negative durations become zero).
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }

    /// An unsigned Go duration as a `std::time::Duration` (`None` when invalid or signed):
    /// the one Go-duration parser, shared by Dockerfile options and `--since`/`--until`.
    pub fn parse_std(input: &str) -> Option<std::time::Duration> {
        if input.starts_with(['-', '+']) || input.trim() != input {
            return None;
        }
        Duration::parse(input).ok().map(Duration::to_std)
    }

    /// Parse Go `time.ParseDuration` syntax.
    pub fn parse(input: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "\"{input}\" is not a valid duration (expected a number with a unit ns, us, ms, s, m or h, e.g. \"1m30s\")"
            )
        };
        let mut s = input.trim();
        let neg = s.starts_with('-');
        if neg || s.starts_with('+') {
            s = &s[1..];
        }
        if s == "0" {
            return Ok(Duration(0));
        }
        if s.is_empty() {
            return Err(err());
        }
        let mut total: f64 = 0.0;
        while !s.is_empty() {
            let num_end = s
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .ok_or_else(err)?;
            if num_end == 0 {
                return Err(err());
            }
            let num: f64 = s[..num_end].parse().map_err(|_| err())?;
            s = &s[num_end..];
            let unit_end = s
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(s.len());
            let mult: f64 = match &s[..unit_end] {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return Err(err()),
            };
            s = &s[unit_end..];
            total += num * mult;
        }
        if total > i64::MAX as f64 {
            return Err(err());
        }
        let n = total.round() as i64;
        Ok(Duration(if neg { -n } else { n }))
    }
}

impl fmt::Display for Duration {
    /// Go's `time.Duration.String`.
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let neg = self.0 < 0;
        let u = self.0.unsigned_abs();
        let sign = if neg { "-" } else { "" };
        if u == 0 {
            return f.write_str("0s");
        }
        if u < 1_000_000_000 {
            // Sub-second: one unit with a fraction.
            let (unit, div) = if u < 1_000 {
                ("ns", 1)
            } else if u < 1_000_000 {
                ("µs", 1_000)
            } else {
                ("ms", 1_000_000)
            };
            return write!(f, "{sign}{}{unit}", frac(u, div));
        }
        let secs_total = u / 1_000_000_000;
        let nanos = u % 1_000_000_000;
        let h = secs_total / 3600;
        let m = (secs_total % 3600) / 60;
        let s = secs_total % 60;
        let sec = frac(s * 1_000_000_000 + nanos, 1_000_000_000);
        if h > 0 {
            write!(f, "{sign}{h}h{m}m{sec}s")
        } else if m > 0 {
            write!(f, "{sign}{m}m{sec}s")
        } else {
            write!(f, "{sign}{sec}s")
        }
    }
}

/// `v / div` with the fraction's trailing zeros dropped, as Go prints it.
fn frac(v: u64, div: u64) -> String {
    let whole = v / div;
    let rem = v % div;
    if rem == 0 {
        return whole.to_string();
    }
    let width = (div as f64).log10().round() as usize;
    let digits = format!("{rem:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = deserialize_scalar_string(d)?;
        Duration::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "pattern": "^[-+]?(0|([0-9]+(\\.[0-9]+)?(ns|us|µs|μs|ms|s|m|h))+)$" })
    }
}

/// `cpu_rt_period` / `cpu_rt_runtime`: microseconds, as a number or a duration (`"10ms"`).
pub(crate) fn deserialize_micros<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let s = deserialize_scalar_string(d)?;
    if let Ok(v) = s.trim().parse::<i64>() {
        return Ok(Some(v));
    }
    Duration::parse(&s)
        .map(|d| Some(d.0 / 1_000))
        .map_err(de::Error::custom)
}

// ---------------------------------------------------------------------------------------------
// Byte sizes

/// A size in bytes, written as an integer or with a unit (`512m`, `1gb`, `100k`, `1.5g`;
/// binary multiples, case-insensitive, as docker's `RAMInBytes`). Printed as a decimal string
/// of bytes, like compose.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub i64);

impl ByteSize {
    pub fn parse(input: &str) -> Result<Self, String> {
        let err = || {
            format!(
                "\"{input}\" is not a valid byte size (expected a number with an optional unit b, k, m, g, t or p, e.g. \"512m\")"
            )
        };
        let s = input.trim();
        let num_end = s
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(s.len());
        if num_end == 0 {
            // `-1` means "unlimited" for memswap_limit.
            if s == "-1" {
                return Ok(ByteSize(-1));
            }
            return Err(err());
        }
        let num: f64 = s[..num_end].parse().map_err(|_| err())?;
        let unit = s[num_end..].trim_start().to_ascii_lowercase();
        let unit = unit.strip_suffix('b').unwrap_or(&unit);
        let unit = unit.strip_suffix('i').unwrap_or(unit);
        let mult: f64 = match unit {
            "" => 1.0,
            "k" => 1024.0,
            "m" => 1024.0 * 1024.0,
            "g" => 1024.0 * 1024.0 * 1024.0,
            "t" => 1024f64.powi(4),
            "p" => 1024f64.powi(5),
            _ => return Err(err()),
        };
        let v = num * mult;
        if v > i64::MAX as f64 {
            return Err(err());
        }
        Ok(ByteSize(v as i64))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = deserialize_scalar_string(d)?;
        ByteSize::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["string", "integer"] })
    }
}

// ---------------------------------------------------------------------------------------------
// Numbers written as strings

/// A CPU count (`cpus: 0.5` or `cpus: "1.5"`). Printed as a number.
#[derive(Debug, Clone, Copy, Default, PartialEq, PartialOrd, Serialize)]
pub struct Cpus(pub f64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = deserialize_scalar_string(d)?;
        match s.trim().parse::<f64>() {
            Ok(v) if v.is_finite() && v >= 0.0 => Ok(Cpus(v)),
            _ => Err(de::Error::custom(format!(
                "\"{s}\" is not a valid CPU count (expected a number, e.g. \"0.5\")"
            ))),
        }
    }
}

impl JsonSchema for Cpus {
    fn schema_name() -> Cow<'static, str> {
        "Cpus".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["number", "string"] })
    }
}

/// A file mode: an integer, or an octal string (`"0440"`). Printed as an octal string.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileMode(pub u32);

impl Serialize for FileMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("0{:o}", self.0))
    }
}

impl<'de> Deserialize<'de> for FileMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FileMode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a file mode, as an integer or an octal string (e.g. \"0440\")")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .map(FileMode)
                    .map_err(|_| E::custom(format!("{v} is not a valid file mode")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FileMode, E> {
                u32::try_from(v)
                    .map(FileMode)
                    .map_err(|_| E::custom(format!("{v} is not a valid file mode")))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FileMode, E> {
                let t = v.trim();
                let t = t.strip_prefix("0o").unwrap_or(t);
                u32::from_str_radix(t, 8).map(FileMode).map_err(|_| {
                    E::custom(format!(
                        "\"{v}\" is not a valid file mode (expected an octal number, e.g. \"0440\")"
                    ))
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for FileMode {
    fn schema_name() -> Cow<'static, str> {
        "FileMode".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": ["integer", "string"] })
    }
}

/// `external:` is a boolean; the legacy `external: {name: x}` form means `true` with the
/// engine-side name `x` (normalization moves it to the resource's `name`). Printed as a bool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct External {
    pub enabled: bool,
    /// The name from the legacy `external: {name: x}` form.
    pub legacy_name: Option<String>,
}

impl External {
    pub fn is_external(&self) -> bool {
        self.enabled
    }
}

impl Serialize for External {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bool(self.enabled)
    }
}

impl<'de> Deserialize<'de> for External {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Legacy {
            name: Option<String>,
        }
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = External;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<External, E> {
                Ok(External {
                    enabled: v,
                    legacy_name: None,
                })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<External, E> {
                parse_bool(v)
                    .map_err(E::custom)
                    .and_then(|b| self.visit_bool(b))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<External, A::Error> {
                let legacy = Legacy::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(External {
                    enabled: true,
                    legacy_name: legacy.name,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for External {
    fn schema_name() -> Cow<'static, str> {
        "External".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "anyOf": [
                { "type": ["boolean", "string"] },
                {
                    "type": "object",
                    "properties": { "name": { "type": "string" } },
                    "additionalProperties": false
                }
            ]
        })
    }
}

/// YAML 1.1 booleans as compose accepts them.
pub(crate) fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Ok(true),
        "false" | "no" | "n" | "off" => Ok(false),
        _ => Err(format!(
            "\"{v}\" is not a valid boolean (expected true/false, yes/no or on/off)"
        )),
    }
}

/// `ulimits.<name>`: a single number (soft = hard) or `{soft, hard}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ulimit {
    Single(i64),
    SoftHard { soft: i64, hard: i64 },
}

impl Ulimit {
    pub fn soft(&self) -> i64 {
        match *self {
            Ulimit::Single(v) => v,
            Ulimit::SoftHard { soft, .. } => soft,
        }
    }
    pub fn hard(&self) -> i64 {
        match *self {
            Ulimit::Single(v) => v,
            Ulimit::SoftHard { hard, .. } => hard,
        }
    }
}

#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UlimitLong {
    hard: i64,
    soft: i64,
}

impl Serialize for Ulimit {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Ulimit::Single(v) => s.serialize_i64(v),
            Ulimit::SoftHard { soft, hard } => UlimitLong { hard, soft }.serialize(s),
        }
    }
}

impl ShortSyntax for Ulimit {
    const EXPECTING: &'static str = "a number or a mapping with soft and hard";
    fn from_short(s: &str) -> Result<Self, String> {
        s.trim().parse().map(Ulimit::Single).map_err(|_| {
            format!("\"{s}\" is not a valid ulimit (expected a number or {{soft: N, hard: N}})")
        })
    }
    fn from_long<'de, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let l = UlimitLong::deserialize(d)?;
        Ok(Ulimit::SoftHard {
            soft: l.soft,
            hard: l.hard,
        })
    }
}

impl<'de> Deserialize<'de> for Ulimit {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_short_or_long(d)
    }
}

impl JsonSchema for Ulimit {
    fn schema_name() -> Cow<'static, str> {
        "Ulimit".into()
    }
    fn json_schema(g: &mut SchemaGenerator) -> Schema {
        let mut s = UlimitLong::json_schema(g);
        with_short_form(&mut s, serde_json::json!({ "type": ["integer", "string"] }));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_go_syntax_and_print_like_go() {
        for (input, printed) in [
            ("1m30s", "1m30s"),
            ("90s", "1m30s"),
            ("10s", "10s"),
            ("1h", "1h0m0s"),
            ("500ms", "500ms"),
            ("2us", "2µs"),
            ("1.5h", "1h30m0s"),
            ("0", "0s"),
            ("1500ms", "1.5s"),
            ("100ns", "100ns"),
        ] {
            let d = Duration::parse(input).unwrap();
            assert_eq!(d.to_string(), printed, "{input}");
        }
    }

    #[test]
    fn durations_reject_missing_units() {
        let err = Duration::parse("10").unwrap_err();
        assert!(err.contains("\"10\" is not a valid duration"), "{err}");
        assert!(Duration::parse("abc").is_err());
        assert!(Duration::parse("").is_err());
        assert!(Duration::parse("5x").is_err());
    }

    #[test]
    fn byte_sizes_parse_units() {
        for (input, bytes) in [
            ("512m", 512 * 1024 * 1024),
            ("1gb", 1024 * 1024 * 1024),
            ("100k", 100 * 1024),
            ("100", 100),
            ("1.5k", 1536),
            ("2MiB", 2 * 1024 * 1024),
        ] {
            assert_eq!(ByteSize::parse(input).unwrap().0, bytes, "{input}");
        }
        let err = ByteSize::parse("12x").unwrap_err();
        assert!(err.contains("is not a valid byte size"), "{err}");
        let b: ByteSize = serde_yaml::from_str("1024").unwrap();
        assert_eq!(serde_yaml::to_string(&b).unwrap(), "'1024'\n");
    }

    #[test]
    fn shell_words_split_like_a_shell() {
        assert_eq!(
            split_shell_words(r#"sh -c "echo \"hi there\"" 'a b' c\ d"#).unwrap(),
            vec!["sh", "-c", "echo \"hi there\"", "a b", "c d"]
        );
        assert_eq!(split_shell_words("").unwrap(), Vec::<String>::new());
        let err = split_shell_words("echo 'oops").unwrap_err();
        assert!(err.contains("unterminated"), "{err}");
    }

    #[test]
    fn mappings_accept_map_and_list_forms() {
        let m: MappingWithEquals = serde_yaml::from_str("[A=1, B, C=x=y]").unwrap();
        assert_eq!(m.get("A"), Some(&Some("1".into())));
        assert_eq!(m.get("B"), Some(&None));
        assert_eq!(m.get("C"), Some(&Some("x=y".into())));
        let m: MappingWithEquals =
            serde_yaml::from_str("{A: 1, B: null, C: true, D: 1.5}").unwrap();
        assert_eq!(m.get("A"), Some(&Some("1".into())));
        assert_eq!(m.get("B"), Some(&None));
        assert_eq!(m.get("C"), Some(&Some("true".into())));
        assert_eq!(m.get("D"), Some(&Some("1.5".into())));
        let l: Mapping = serde_yaml::from_str("[a=b, c]").unwrap();
        assert_eq!(l.get("c"), Some(&String::new()));
    }

    #[test]
    fn extra_hosts_accept_list_and_map_forms() {
        let h: HostsList =
            serde_yaml::from_str("[\"db:10.0.0.5\", \"v6=::1\", \"x:[::2]\"]").unwrap();
        assert_eq!(h["db"], vec!["10.0.0.5"]);
        assert_eq!(h["v6"], vec!["::1"]);
        assert_eq!(h["x"], vec!["::2"]);
        let h: HostsList =
            serde_yaml::from_str("{db: 10.0.0.5, multi: [1.1.1.1, 2.2.2.2]}").unwrap();
        assert_eq!(h["multi"].len(), 2);
        assert_eq!(
            serde_yaml::to_string(&h).unwrap(),
            "- db=10.0.0.5\n- multi=1.1.1.1\n- multi=2.2.2.2\n"
        );
        let err = serde_yaml::from_str::<HostsList>("[nohost]").unwrap_err();
        assert!(
            err.to_string().contains("is not a valid extra host"),
            "{err}"
        );
    }

    #[test]
    fn ulimits_accept_single_and_soft_hard() {
        let u: Ulimit = serde_yaml::from_str("65535").unwrap();
        assert_eq!(u, Ulimit::Single(65535));
        let u: Ulimit = serde_yaml::from_str("{soft: 1, hard: 2}").unwrap();
        assert_eq!((u.soft(), u.hard()), (1, 2));
        assert!(serde_yaml::from_str::<Ulimit>("{soft: 1, hard: 2, x: 3}").is_err());
    }

    #[test]
    fn file_modes_accept_octal_strings() {
        let m: FileMode = serde_yaml::from_str("\"0440\"").unwrap();
        assert_eq!(m.0, 0o440);
        assert_eq!(serde_yaml::to_string(&m).unwrap(), "'0440'\n");
    }
}
