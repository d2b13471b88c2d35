//! YAML text to a [`Node`] tree that remembers where every value came from.
//!
//! Compose files are YAML 1.2 with anchors, aliases, `<<` merge keys and the `!reset` /
//! `!override` tags. This pass resolves anchors and merge keys, rejects duplicate keys, and keeps
//! scalars as text with their style: whether `80` is a number or a string is decided later by
//! the field it lands in, after interpolation, as compose does. Not for: interpolation, merging
//! files, or knowing what any key means.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use indexmap::IndexMap;
use yaml_rust2::parser::{Event, Parser, Tag};
use yaml_rust2::scanner::TScalarStyle;

use super::error::LoadError;

/// Nesting deeper than this is refused: every later pass walks the tree recursively.
const MAX_DEPTH: usize = 200;
/// Upper bound on nodes created by alias expansion ("billion laughs" protection).
const MAX_ALIAS_NODES: usize = 1_000_000;

/// A 1-based line and column; `0:0` means "somewhere in the file".
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark {
    pub line: u32,
    pub col: u32,
}

/// The compose-specific YAML tags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeTag {
    /// `!reset`: drop the value inherited from earlier files or `extends`.
    Reset,
    /// `!override`: replace the inherited value instead of merging into it.
    Override,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub value: Value,
    pub mark: Mark,
    /// Display name of the file the node was read from.
    pub file: Arc<str>,
    pub tag: Option<NodeTag>,
}

#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Scalar(Scalar),
    Seq(Vec<Node>),
    Map(Mapping),
}

/// A scalar's text. `plain` scalars may resolve to numbers or booleans; quoted ones are strings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scalar {
    pub text: String,
    pub plain: bool,
}

pub type Mapping = IndexMap<String, Entry>;

#[derive(Clone, Debug)]
pub struct Entry {
    pub key_mark: Mark,
    pub value: Node,
}

impl Node {
    pub fn new(value: Value, mark: Mark, file: Arc<str>) -> Node {
        Node {
            value,
            mark,
            file,
            tag: None,
        }
    }

    pub fn as_map(&self) -> Option<&Mapping> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_map_mut(&mut self) -> Option<&mut Mapping> {
        match &mut self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar(s) => Some(&s.text),
            _ => None,
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?.get(key).map(|e| &e.value)
    }

    pub fn is_null(&self) -> bool {
        matches!(self.value, Value::Null)
    }

    /// A short description of the node's kind, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "null",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// An error located at this node.
    pub fn error(&self, message: impl Into<String>) -> LoadError {
        LoadError::new(message).at(&self.file, self.mark)
    }

    /// Count of nodes in this subtree (itself included).
    fn size(&self) -> usize {
        1 + match &self.value {
            Value::Seq(items) => items.iter().map(Node::size).sum(),
            Value::Map(m) => m.values().map(|e| e.value.size()).sum(),
            _ => 0,
        }
    }
}

/// Parses every YAML document in `text`. `file` is the name errors show.
pub fn parse(text: &str, file: &Arc<str>) -> Result<Vec<Node>, LoadError> {
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        anchors: HashMap::new(),
        alias_nodes: 0,
        docs: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        let (event, marker) = parser.next_token().map_err(|e| {
            let mark = Mark {
                line: e.marker().line() as u32,
                col: e.marker().col() as u32 + 1,
            };
            let mut err = LoadError::new(format!("invalid YAML: {}", e.info())).at(file, mark);
            if line_has_tab_indent(text, mark.line) {
                err = err.with_hint("YAML does not allow tabs for indentation: indent with spaces");
            }
            err
        })?;
        let mark = Mark {
            line: marker.line() as u32,
            col: marker.col() as u32 + 1,
        };
        if builder.event(event, mark)? {
            return Ok(builder.docs);
        }
    }
}

fn line_has_tab_indent(text: &str, line: u32) -> bool {
    let lines: Vec<&str> = text.lines().collect();
    let at = (line.saturating_sub(1) as usize).min(lines.len());
    // The scanner may report the error on the line before or after the tab; its line count
    // can also run past `lines()` (a lone `\r` ends a line for YAML).
    let from = at.saturating_sub(1);
    let to = lines.len().min(at + 2);
    lines[from..to]
        .iter()
        .any(|l| l.trim_start_matches(' ').starts_with('\t'))
}

enum Frame {
    Seq {
        mark: Mark,
        anchor: usize,
        tag: Option<NodeTag>,
        items: Vec<Node>,
    },
    Map {
        mark: Mark,
        anchor: usize,
        tag: Option<NodeTag>,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    anchors: HashMap<usize, (Node, usize)>,
    alias_nodes: usize,
    docs: Vec<Node>,
}

impl Builder {
    /// Feeds one parser event; returns true at the end of the stream.
    fn event(&mut self, event: Event, mark: Mark) -> Result<bool, LoadError> {
        match event {
            Event::StreamEnd => return Ok(true),
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {}
            Event::Scalar(text, style, anchor, tag) => {
                let tag = self.tag(tag.as_ref(), mark)?;
                let forced_string = matches!(tag, Some(CoreTag::Str));
                let plain = style == TScalarStyle::Plain && !forced_string;
                let value = if plain && is_null(&text) {
                    Value::Null
                } else {
                    Value::Scalar(Scalar { text, plain })
                };
                let mut node = Node::new(value, mark, self.file.clone());
                node.tag = tag.and_then(CoreTag::compose_tag);
                self.register(anchor, &node);
                self.push(node)?;
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = self.tag(tag.as_ref(), mark)?.and_then(CoreTag::compose_tag);
                self.open(Frame::Seq {
                    mark,
                    anchor,
                    tag,
                    items: Vec::new(),
                })?;
            }
            Event::MappingStart(anchor, tag) => {
                let tag = self.tag(tag.as_ref(), mark)?.and_then(CoreTag::compose_tag);
                self.open(Frame::Map {
                    mark,
                    anchor,
                    tag,
                    entries: Vec::new(),
                    pending_key: None,
                })?;
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    mark,
                    anchor,
                    tag,
                    items,
                }) = self.stack.pop()
                {
                    // Block collections are reported by the scanner past their first token.
                    let mark = items.first().map_or(mark, |first| mark.min(first.mark));
                    let mut node = Node::new(Value::Seq(items), mark, self.file.clone());
                    node.tag = tag;
                    self.register(anchor, &node);
                    self.push(node)?;
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    mark,
                    anchor,
                    tag,
                    entries,
                    ..
                }) = self.stack.pop()
                {
                    let mark = entries.first().map_or(mark, |(key, _)| mark.min(key.mark));
                    let map = self.mapping(entries)?;
                    let mut node = Node::new(Value::Map(map), mark, self.file.clone());
                    node.tag = tag;
                    self.register(anchor, &node);
                    self.push(node)?;
                }
            }
            Event::Alias(id) => {
                let Some((node, size)) = self.anchors.get(&id) else {
                    return Err(
                        LoadError::new("alias refers to an unknown anchor").at(&self.file, mark)
                    );
                };
                self.alias_nodes += size;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(LoadError::new(format!(
                        "aliases expand to more than {MAX_ALIAS_NODES} values; refusing to expand further"
                    ))
                    .at(&self.file, mark));
                }
                let node = node.clone();
                self.push(node)?;
            }
        }
        Ok(false)
    }

    fn open(&mut self, frame: Frame) -> Result<(), LoadError> {
        if self.stack.len() >= MAX_DEPTH {
            let mark = match &frame {
                Frame::Seq { mark, .. } | Frame::Map { mark, .. } => *mark,
            };
            return Err(LoadError::new(format!(
                "values are nested more than {MAX_DEPTH} levels deep"
            ))
            .at(&self.file, mark));
        }
        self.stack.push(frame);
        Ok(())
    }

    fn register(&mut self, anchor: usize, node: &Node) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), node.size()));
        }
    }

    fn push(&mut self, node: Node) -> Result<(), LoadError> {
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => entries.push((key, node)),
            },
        }
        Ok(())
    }

    /// The key path of the value being built, for messages.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match frame {
                Frame::Seq { items, .. } => {
                    let _ = write!(path, "[{}]", items.len());
                }
                Frame::Map { pending_key, .. } => {
                    if let Some(key) = pending_key.as_ref().and_then(Node::as_str) {
                        if !path.is_empty() {
                            path.push('.');
                        }
                        path.push_str(key);
                    }
                }
            }
        }
        path
    }

    fn mapping(&self, entries: Vec<(Node, Node)>) -> Result<Mapping, LoadError> {
        let mut map = Mapping::with_capacity(entries.len());
        let mut merges = Vec::new();
        for (key, value) in entries {
            let name = match &key.value {
                Value::Scalar(s) => {
                    if s.plain && s.text == "<<" {
                        merges.push(value);
                        continue;
                    }
                    s.text.clone()
                }
                _ => {
                    return Err(key
                        .error(format!(
                            "mapping keys must be strings, found {}",
                            key.kind()
                        ))
                        .with_path(self.path()))
                }
            };
            if let Some(first) = map.get(&name) {
                let mut path = self.path();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&name);
                return Err(key
                    .error(format!(
                        "duplicate key \"{name}\" (first defined on line {})",
                        first.key_mark.line
                    ))
                    .with_path(path)
                    .with_hint("a key may appear once per mapping: remove or rename one of them"));
            }
            map.insert(
                name,
                Entry {
                    key_mark: key.mark,
                    value,
                },
            );
        }
        // Explicit keys win over merged ones; earlier merge sources win over later ones.
        for source in merges {
            match source.value {
                Value::Map(m) => merge_missing(&mut map, m),
                Value::Seq(items) => {
                    for item in items {
                        match item.value {
                            Value::Map(m) => merge_missing(&mut map, m),
                            _ => {
                                return Err(item
                                    .error("a `<<` merge list may only contain mappings")
                                    .with_path(self.path()))
                            }
                        }
                    }
                }
                _ => {
                    return Err(source
                        .error(format!(
                            "`<<` merges a mapping or a list of mappings, found {}",
                            source.kind()
                        ))
                        .with_path(self.path()))
                }
            }
        }
        Ok(map)
    }

    fn tag(&self, tag: Option<&Tag>, mark: Mark) -> Result<Option<CoreTag>, LoadError> {
        let Some(tag) = tag else { return Ok(None) };
        let core = tag.handle == "tag:yaml.org,2002:" || tag.handle == "!!";
        Ok(Some(
            match (core, tag.handle.as_str(), tag.suffix.as_str()) {
                (false, "!", "reset") => CoreTag::Reset,
                (false, "!", "override") => CoreTag::Override,
                (true, _, "str") => CoreTag::Str,
                (
                    true,
                    _,
                    "int" | "float" | "bool" | "null" | "map" | "seq" | "binary" | "timestamp",
                ) => CoreTag::Other,
                _ => {
                    return Err(LoadError::new(format!(
                        "unsupported YAML tag `{}{}`",
                        tag.handle, tag.suffix
                    ))
                    .at(&self.file, mark)
                    .with_path(self.path())
                    .with_hint("compose files understand the tags !reset and !override"))
                }
            },
        ))
    }
}

#[derive(Clone, Copy)]
enum CoreTag {
    Reset,
    Override,
    Str,
    Other,
}

impl CoreTag {
    fn compose_tag(self) -> Option<NodeTag> {
        match self {
            CoreTag::Reset => Some(NodeTag::Reset),
            CoreTag::Override => Some(NodeTag::Override),
            CoreTag::Str | CoreTag::Other => None,
        }
    }
}

fn merge_missing(map: &mut Mapping, from: Mapping) {
    for (k, e) in from {
        map.entry(k).or_insert(e);
    }
}

/// YAML 1.2 core-schema null.
pub fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Result<Node, LoadError> {
        let file: Arc<str> = Arc::from("compose.yaml");
        parse(text, &file).map(|mut d| d.remove(0))
    }

    #[test]
    fn marks_are_one_based_lines_and_columns() {
        let n = doc("services:\n  web:\n    image: nginx\n").unwrap();
        let web = n.get("services").unwrap().get("web").unwrap();
        let image = web.get("image").unwrap();
        assert_eq!(image.mark, Mark { line: 3, col: 12 });
        let entry = &web.as_map().unwrap()["image"];
        assert_eq!(entry.key_mark, Mark { line: 3, col: 5 });
    }

    #[test]
    fn scalars_keep_their_style_and_null_is_recognised() {
        let n = doc("a: 80\nb: \"80\"\nc:\nd: ~\ne: 'null'\n").unwrap();
        assert_eq!(
            n.get("a").unwrap().value.clone().into_scalar(),
            Some(Scalar {
                text: "80".into(),
                plain: true
            })
        );
        assert!(
            !n.get("b")
                .unwrap()
                .value
                .clone()
                .into_scalar()
                .unwrap()
                .plain
        );
        assert!(n.get("c").unwrap().is_null());
        assert!(n.get("d").unwrap().is_null());
        assert_eq!(n.get("e").unwrap().as_str(), Some("null"));
    }

    #[test]
    fn anchors_aliases_and_merge_keys_resolve() {
        let n = doc(
            "x-base: &base\n  image: busybox\n  restart: always\nservices:\n  a:\n    <<: *base\n    restart: \"no\"\n  b: *base\n",
        )
        .unwrap();
        let a = n.get("services").unwrap().get("a").unwrap();
        assert_eq!(a.get("image").unwrap().as_str(), Some("busybox"));
        assert_eq!(a.get("restart").unwrap().as_str(), Some("no"));
        let b = n.get("services").unwrap().get("b").unwrap();
        assert_eq!(b.get("restart").unwrap().as_str(), Some("always"));
    }

    #[test]
    fn merge_list_gives_precedence_to_earlier_sources() {
        let n = doc("a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n").unwrap();
        let c = n.get("c").unwrap();
        assert_eq!(c.get("y").unwrap().as_str(), Some("1"));
        assert_eq!(c.get("z").unwrap().as_str(), Some("2"));
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_lines() {
        let err = doc("services:\n  web:\n    image: a\n    image: b\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "compose.yaml:4:5: services.web.image: duplicate key \"image\" (first defined on line 3)\n  hint: a key may appear once per mapping: remove or rename one of them"
        );
    }

    #[test]
    fn reset_and_override_tags_are_kept() {
        let n = doc("a: !reset []\nb: !override\n  k: v\nc: !!str 80\n").unwrap();
        assert_eq!(n.get("a").unwrap().tag, Some(NodeTag::Reset));
        assert_eq!(n.get("b").unwrap().tag, Some(NodeTag::Override));
        assert!(
            !n.get("c")
                .unwrap()
                .value
                .clone()
                .into_scalar()
                .unwrap()
                .plain
        );
    }

    #[test]
    fn unknown_tags_are_rejected() {
        let err = doc("a: !foo bar\n").unwrap_err();
        assert!(err.message.contains("unsupported YAML tag `!foo`"), "{err}");
    }

    #[test]
    fn tabs_get_a_hint() {
        let err = doc("services:\n\tweb:\n    image: x\n").unwrap_err();
        assert!(err.to_string().contains("indent with spaces"), "{err}");
    }

    #[test]
    fn billion_laughs_is_refused() {
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            text.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = doc(&text).unwrap_err();
        assert!(err.message.contains("aliases expand"), "{err}");
    }

    #[test]
    fn errors_on_lines_past_the_last_newline_do_not_panic() {
        // Found by fuzzing: a lone carriage return counts as a line break for the scanner.
        let text = "a: b\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r[";
        assert!(doc(text).is_err());
    }

    #[test]
    fn deep_nesting_is_refused() {
        let text = "[".repeat(10_000);
        assert!(doc(&text).is_err());
    }

    impl Value {
        fn into_scalar(self) -> Option<Scalar> {
            match self {
                Value::Scalar(s) => Some(s),
                _ => None,
            }
        }
    }
}
