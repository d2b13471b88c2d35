//! A serde `Deserializer` over a [`Node`] tree, so the typed model derives `Deserialize` and every
//! error still names the file, line, column and key path of the offending value.
//!
//! Scalars are typed by the field they land in, the way compose coerces values after
//! interpolation: a `u16` field accepts `80` and `"80"`, a `bool` field `true`, `"yes"` or `on`,
//! a `String` field takes any scalar's text. Self-describing requests (`deserialize_any`, used by
//! untagged enums and free-form values) resolve plain scalars with the YAML 1.2 core schema and
//! treat quoted ones as strings. Struct fields named `x-*` (extensions) are skipped here; the
//! loader keeps them separately.

use std::fmt::{self, Display, Write as _};

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};

use super::error::{did_you_mean, LoadError};
use super::yaml::{Mark, Node, Value};

impl de::Error for LoadError {
    fn custom<T: Display>(msg: T) -> Self {
        LoadError::new(msg.to_string())
    }

    fn invalid_type(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        LoadError::new(format!("expected {exp}, found {}", describe(unexp)))
    }

    fn invalid_value(unexp: de::Unexpected, exp: &dyn de::Expected) -> Self {
        LoadError::new(format!("{} is not valid: expected {exp}", describe(unexp)))
    }

    fn unknown_field(field: &str, expected: &'static [&'static str]) -> Self {
        let mut message = format!("unknown key \"{field}\"");
        if let Some(best) = did_you_mean(field, expected.iter().copied()) {
            let _ = write!(message, " (did you mean \"{best}\"?)");
            return LoadError::new(message);
        }
        let hint = if expected.len() <= 16 {
            format!("allowed keys here: {}", expected.join(", "))
        } else {
            "check the spelling and the indentation: a key indented too far lands in the wrong section; extension keys start with x-".to_string()
        };
        LoadError::new(message).with_hint(hint)
    }

    fn unknown_variant(variant: &str, expected: &'static [&'static str]) -> Self {
        let mut message = format!("\"{variant}\" is not a valid value");
        if let Some(best) = did_you_mean(variant, expected.iter().copied()) {
            let _ = write!(message, " (did you mean \"{best}\"?)");
        }
        LoadError::new(message).with_hint(format!("expected one of: {}", expected.join(", ")))
    }

    fn missing_field(field: &'static str) -> Self {
        LoadError::new(format!("missing required key \"{field}\""))
    }

    fn duplicate_field(field: &'static str) -> Self {
        LoadError::new(format!("duplicate key \"{field}\""))
    }
}

fn describe(unexp: de::Unexpected) -> String {
    match unexp {
        de::Unexpected::Str(s) => format!("\"{s}\""),
        de::Unexpected::Unsigned(n) => n.to_string(),
        de::Unexpected::Signed(n) => n.to_string(),
        de::Unexpected::Float(n) => n.to_string(),
        de::Unexpected::Bool(b) => b.to_string(),
        de::Unexpected::Unit => "null".to_string(),
        de::Unexpected::Seq => "a list".to_string(),
        de::Unexpected::Map => "a mapping".to_string(),
        other => other.to_string(),
    }
}

/// Deserializes `node` into `T`; `path` is the key path of `node` for messages (empty at the root).
pub fn from_node<T: DeserializeOwned>(node: &Node, path: &str) -> Result<T, LoadError> {
    T::deserialize(NodeDe {
        node,
        path: Path::Root(path),
    })
}

/// A key path built on the stack while descending, rendered only when an error needs it.
#[derive(Clone, Copy)]
enum Path<'p> {
    Root(&'p str),
    Key(&'p Path<'p>, &'p str),
    Index(&'p Path<'p>, usize),
}

impl Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root(p) => f.write_str(p),
            Path::Key(parent, key) => {
                let parent_text = parent.to_string();
                if parent_text.is_empty() {
                    f.write_str(key)
                } else {
                    write!(f, "{parent_text}.{key}")
                }
            }
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
        }
    }
}

struct NodeDe<'n, 'p> {
    node: &'n Node,
    path: Path<'p>,
}

impl NodeDe<'_, '_> {
    fn locate(&self, err: LoadError) -> LoadError {
        err.at(&self.node.file, self.node.mark)
            .with_path(self.path.to_string())
    }

    fn scalar(&self) -> Option<&str> {
        match &self.node.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    fn unexpected(&self) -> de::Unexpected<'_> {
        match &self.node.value {
            Value::Null => de::Unexpected::Unit,
            Value::Scalar(s) => de::Unexpected::Str(&s.text),
            Value::Seq(_) => de::Unexpected::Seq,
            Value::Map(_) => de::Unexpected::Map,
        }
    }

    fn visit_any<'de, V: Visitor<'de>>(
        &self,
        visitor: V,
        skip_extensions: bool,
    ) -> Result<V::Value, LoadError> {
        match &self.node.value {
            Value::Null => visitor.visit_unit(),
            Value::Scalar(s) if !s.plain => visitor.visit_str(&s.text),
            Value::Scalar(s) => match resolve_plain(&s.text) {
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::Int(i) => visitor.visit_i64(i),
                Resolved::Uint(u) => visitor.visit_u64(u),
                Resolved::Float(f) => visitor.visit_f64(f),
                Resolved::Str => visitor.visit_str(&s.text),
            },
            Value::Seq(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
                index: 0,
                path: &self.path,
            }),
            Value::Map(map) => visitor.visit_map(MapDe {
                entries: map.iter(),
                value: None,
                path: &self.path,
                skip_extensions,
            }),
        }
    }
}

enum Resolved {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str,
}

/// YAML 1.2 core-schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> Resolved {
    match text {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Resolved::Float(f64::INFINITY)
        }
        "-.inf" | "-.Inf" | "-.INF" => return Resolved::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Resolved::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return match u64::try_from(i) {
            Ok(u) => Resolved::Uint(u),
            Err(_) => match i64::try_from(i) {
                Ok(i) => Resolved::Int(i),
                Err(_) => Resolved::Str,
            },
        };
    }
    if is_core_float(text) {
        if let Ok(f) = text.parse::<f64>() {
            return Resolved::Float(f);
        }
    }
    Resolved::Str
}

/// Integers as YAML 1.2 writes them: decimal with an optional sign, `0x…`, `0o…`.
fn parse_int(text: &str) -> Option<i128> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else if digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| (b'0'..=b'7').contains(&b))
    {
        // `0440` is octal, as in the YAML parser docker compose uses (file modes are written so).
        (8, &digits[1..])
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn is_core_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mantissa_ok = match mantissa.split_once('.') {
        Some((a, b)) => {
            (!a.is_empty() || !b.is_empty())
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => !mantissa.is_empty() && mantissa.bytes().all(|c| c.is_ascii_digit()),
    };
    let exp_ok = exp.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
    });
    mantissa_ok && exp_ok
}

/// Booleans the way compose coerces them after interpolation.
fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "true" | "yes" | "y" | "on" => Some(true),
        "false" | "no" | "n" | "off" => Some(false),
        _ => None,
    }
}

/// Numbers written as plain or quoted scalars (`80`, `"80"`, `0x50`).
trait ScalarNumber: Sized {
    fn parse_scalar(text: &str) -> Option<Self>;
}

macro_rules! scalar_int {
    ($($ty:ty),*) => {$(
        impl ScalarNumber for $ty {
            fn parse_scalar(text: &str) -> Option<Self> {
                parse_int(text).and_then(|i| <$ty>::try_from(i).ok())
            }
        }
    )*};
}
scalar_int!(i8, i16, i32, i64, u8, u16, u32, u64);

impl ScalarNumber for f32 {
    fn parse_scalar(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

impl ScalarNumber for f64 {
    fn parse_scalar(text: &str) -> Option<Self> {
        text.parse().ok()
    }
}

macro_rules! deserialize_number {
    ($method:ident, $visit:ident, $ty:ty, $what:literal) => {
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
            let parsed = match self.scalar() {
                Some(text) => <$ty as ScalarNumber>::parse_scalar(text.trim()),
                None => None,
            };
            let result = match parsed {
                Some(v) => visitor.$visit(v),
                None => match self.scalar() {
                    Some(text) => Err(LoadError::new(format!(
                        "expected {}, found \"{text}\"",
                        $what
                    ))),
                    None => Err(de::Error::invalid_type(self.unexpected(), &$what)),
                },
            };
            result.map_err(|e| self.locate(e))
        }
    };
}

impl<'de> de::Deserializer<'de> for NodeDe<'_, '_> {
    type Error = LoadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.visit_any(visitor, false).map_err(|e| self.locate(e))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        let result = match self.scalar().map(|t| (t, parse_bool(t))) {
            Some((_, Some(b))) => visitor.visit_bool(b),
            Some((text, None)) => Err(LoadError::new(format!(
                "expected a boolean (true or false), found \"{text}\""
            ))),
            None => Err(de::Error::invalid_type(self.unexpected(), &"a boolean")),
        };
        result.map_err(|e| self.locate(e))
    }

    deserialize_number!(deserialize_i8, visit_i8, i8, "an integer");
    deserialize_number!(deserialize_i16, visit_i16, i16, "an integer");
    deserialize_number!(deserialize_i32, visit_i32, i32, "an integer");
    deserialize_number!(deserialize_i64, visit_i64, i64, "an integer");
    deserialize_number!(deserialize_u8, visit_u8, u8, "a non-negative integer");
    deserialize_number!(
        deserialize_u16,
        visit_u16,
        u16,
        "an integer from 0 to 65535"
    );
    deserialize_number!(deserialize_u32, visit_u32, u32, "a non-negative integer");
    deserialize_number!(deserialize_u64, visit_u64, u64, "a non-negative integer");
    deserialize_number!(deserialize_f32, visit_f32, f32, "a number");
    deserialize_number!(deserialize_f64, visit_f64, f64, "a number");

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        let result = match self.scalar() {
            Some(text) => visitor.visit_str(text),
            None => Err(de::Error::invalid_type(self.unexpected(), &"a string")),
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        if self.node.is_null() {
            visitor.visit_none().map_err(|e| self.locate(e))
        } else {
            let (node, path) = (self.node, self.path);
            visitor
                .visit_some(NodeDe { node, path })
                .map_err(|e| NodeDe { node, path }.locate(e))
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, LoadError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, LoadError> {
        let (node, path) = (self.node, self.path);
        visitor
            .visit_newtype_struct(NodeDe { node, path })
            .map_err(|e| NodeDe { node, path }.locate(e))
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, LoadError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, LoadError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.deserialize_any(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LoadError> {
        self.visit_any(visitor, true).map_err(|e| self.locate(e))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LoadError> {
        let result = match &self.node.value {
            Value::Scalar(s) => visitor.visit_enum(s.text.as_str().into_deserializer()),
            Value::Map(m) if m.len() == 1 => match m.first() {
                Some((key, entry)) => visitor.visit_enum(EnumDe {
                    key,
                    value: &entry.value,
                    path: &self.path,
                }),
                None => Err(de::Error::invalid_type(
                    self.unexpected(),
                    &"a single-key mapping",
                )),
            },
            _ => Err(de::Error::invalid_type(self.unexpected(), &"a string")),
        };
        result.map_err(|e| self.locate(e))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        visitor.visit_unit()
    }
}

struct SeqDe<'n, 'p> {
    items: std::slice::Iter<'n, Node>,
    index: usize,
    path: &'p Path<'p>,
}

impl<'de> SeqAccess<'de> for SeqDe<'_, '_> {
    type Error = LoadError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, LoadError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let path = Path::Index(self.path, self.index);
        self.index += 1;
        seed.deserialize(NodeDe { node, path }).map(Some)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'n, 'p> {
    entries: indexmap::map::Iter<'n, String, super::yaml::Entry>,
    value: Option<(&'n str, &'n Node)>,
    path: &'p Path<'p>,
    skip_extensions: bool,
}

impl<'de> MapAccess<'de> for MapDe<'_, '_> {
    type Error = LoadError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, LoadError> {
        loop {
            let Some((key, entry)) = self.entries.next() else {
                return Ok(None);
            };
            if self.skip_extensions && key.starts_with("x-") {
                continue;
            }
            self.value = Some((key, &entry.value));
            return seed.deserialize(KeyDe { key }).map(Some).map_err(|e| {
                e.at(&entry.value.file, entry.key_mark)
                    .with_path(Path::Key(self.path, key).to_string())
            });
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, LoadError> {
        let Some((key, node)) = self.value.take() else {
            return Err(LoadError::new(
                "internal error: map value requested before its key",
            ));
        };
        seed.deserialize(NodeDe {
            node,
            path: Path::Key(self.path, key),
        })
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// Mapping keys are always strings.
struct KeyDe<'k> {
    key: &'k str,
}

impl<'de> de::Deserializer<'de> for KeyDe<'_> {
    type Error = LoadError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, LoadError> {
        visitor.visit_str(self.key)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

struct EnumDe<'n, 'p> {
    key: &'n str,
    value: &'n Node,
    path: &'p Path<'p>,
}

impl<'de, 'n, 'p> EnumAccess<'de> for EnumDe<'n, 'p> {
    type Error = LoadError;
    type Variant = NodeDe<'n, 'p>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), LoadError> {
        let variant = seed.deserialize(KeyDe { key: self.key })?;
        Ok((
            variant,
            NodeDe {
                node: self.value,
                path: *self.path,
            },
        ))
    }
}

impl<'de> VariantAccess<'de> for NodeDe<'_, '_> {
    type Error = LoadError;

    fn unit_variant(self) -> Result<(), LoadError> {
        Ok(())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, LoadError> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, LoadError> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, LoadError> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

/// Where `path` (as rendered by this module, e.g. `services.web.ports[0]`) points in `root`;
/// used to locate errors found after deserialization, such as an undefined volume.
pub fn locate(root: &Node, path: &str) -> Option<(std::sync::Arc<str>, Mark)> {
    let mut node = root;
    let mut best = (node.file.clone(), node.mark);
    for segment in split_path(path) {
        match segment {
            Segment::Key(k) => match &node.value {
                Value::Map(m) => match m.get(k) {
                    Some(entry) => {
                        best = (entry.value.file.clone(), entry.key_mark);
                        node = &entry.value;
                    }
                    None => return Some(best),
                },
                // `depends_on: [db]`, `networks: [front]`, `environment: [A=1]`: the key is an item.
                Value::Seq(items) => {
                    let named = |i: &&Node| {
                        i.as_str().is_some_and(|t| {
                            t == k
                                || t.strip_prefix(k)
                                    .is_some_and(|rest| rest.starts_with(['=', ':']))
                        })
                    };
                    match items.iter().find(named) {
                        Some(item) => {
                            best = (item.file.clone(), item.mark);
                            node = item;
                        }
                        None => return Some(best),
                    }
                }
                _ => return Some(best),
            },
            Segment::Index(i) => match &node.value {
                Value::Seq(items) if i < items.len() => {
                    node = &items[i];
                    best = (node.file.clone(), node.mark);
                }
                _ => return Some(best),
            },
        }
    }
    Some(best)
}

enum Segment<'a> {
    Key(&'a str),
    Index(usize),
}

fn split_path(path: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key));
        }
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            if let Ok(i) = stripped[..end].parse() {
                out.push(Segment::Index(i));
            }
            rest = &stripped[end + 1..];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use serde::Deserialize;

    use super::*;
    use crate::compose::yaml;

    fn node(text: &str) -> Node {
        let file: Arc<str> = Arc::from("compose.yaml");
        yaml::parse(text, &file).unwrap().remove(0)
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Svc {
        image: Option<String>,
        port: Option<u16>,
        tty: Option<bool>,
        #[serde(default)]
        ports: Vec<u16>,
        restart: Option<Restart>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    #[serde(rename_all = "kebab-case")]
    enum Restart {
        No,
        Always,
        UnlessStopped,
    }

    fn svc(text: &str) -> Result<BTreeMap<String, Svc>, LoadError> {
        from_node(&node(text), "services")
    }

    #[test]
    fn scalars_are_coerced_to_the_field_type() {
        let s = svc("web:\n  image: 80\n  port: \"8080\"\n  tty: \"yes\"\n  ports: [1, \"2\"]\n")
            .unwrap();
        assert_eq!(
            s["web"],
            Svc {
                image: Some("80".into()),
                port: Some(8080),
                tty: Some(true),
                ports: vec![1, 2],
                restart: None
            }
        );
    }

    #[test]
    fn errors_name_file_line_column_and_path() {
        let err = svc("web:\n  ports:\n    - 80\n    - eighty\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "compose.yaml:4:7: services.web.ports[1]: expected an integer from 0 to 65535, found \"eighty\""
        );
    }

    #[test]
    fn unknown_keys_suggest_the_closest_one() {
        let err = svc("web:\n  imgae: nginx\n").unwrap_err();
        assert_eq!(
            err.location.as_ref().unwrap().mark,
            Mark { line: 2, col: 3 }
        );
        assert_eq!(err.path, "services.web.imgae");
        assert!(err.message.contains("(did you mean \"image\"?)"), "{err}");
    }

    #[test]
    fn extensions_are_skipped_in_structs() {
        let s = svc("web:\n  x-note: hi\n  image: a\n").unwrap();
        assert_eq!(s["web"].image.as_deref(), Some("a"));
    }

    #[test]
    fn enums_and_their_errors() {
        let s = svc("web:\n  restart: unless-stopped\n").unwrap();
        assert_eq!(s["web"].restart, Some(Restart::UnlessStopped));
        let err = svc("web:\n  restart: allways\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("compose.yaml:2:12: services.web.restart: \"allways\""),
            "{err}"
        );
        assert!(err.message.contains("did you mean \"always\""), "{err}");
    }

    #[test]
    fn self_describing_values_resolve_plain_scalars() {
        let v: serde_json::Value = from_node(
            &node("a: 1\nb: \"1\"\nc: true\nd: 1.5\ne: 0x1f\nf: 1:2\ng: ~\n"),
            "",
        )
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": 1, "b": "1", "c": true, "d": 1.5, "e": 31, "f": "1:2", "g": null})
        );
    }

    #[test]
    fn missing_fields_point_at_the_mapping() {
        #[derive(Deserialize, Debug)]
        #[allow(dead_code)]
        struct Need {
            target: String,
        }
        let err = from_node::<BTreeMap<String, Need>>(&node("a:\n  b: 1\n"), "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "compose.yaml:2:3: x.a: missing required key \"target\""
        );
    }

    #[test]
    fn locate_finds_keys_and_items() {
        let root = node("services:\n  web:\n    volumes:\n      - a:/b\n      - c:/d\n");
        let (_, mark) = locate(&root, "services.web.volumes[1]").unwrap();
        assert_eq!(mark, Mark { line: 5, col: 9 });
        let (_, mark) = locate(&root, "services.web").unwrap();
        assert_eq!(mark, Mark { line: 2, col: 3 });
    }
}
