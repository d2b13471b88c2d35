//! Compose's `.env` / `env_file` syntax, as docker compose v2 reads it (compose-go's `dotenv`
//! parser), and the `format: raw` variant (docker's `--env-file` reader).
//!
//! Syntax: `KEY=VALUE`, `KEY: VALUE`, an optional `export ` prefix, `#` comment lines, inline
//! ` #` comments after unquoted values, `'single'` (literal) and `"double"` (escapes, then
//! interpolation) quoted values spanning lines, bare `KEY` (value taken from the environment),
//! a leading UTF-8 BOM, CRLF line ends. Later duplicates win.
//!
//! Not for: reading files, choosing which files apply, or precedence between the `.env`, the
//! process environment and `environment:` (the loader does that; it passes `lookup`).

use std::fmt;

use indexmap::IndexMap;

use super::interpolate::interpolate;

/// A `.env` / `env_file` entry that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DotenvError {
    /// 1-based line where the offending entry starts.
    pub line: u32,
    pub message: String,
}

impl fmt::Display for DotenvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for DotenvError {}

/// Compose's `.env` / env_file syntax. Values may reference `${VAR}` (the full interpolation
/// syntax), resolved as compose-go does: `lookup` first, then keys defined earlier in the same
/// file (so the process environment wins over the file). Bare `KEY` lines take `lookup(KEY)`;
/// the map holds `None` when it is unset (an unset bare key does not erase an earlier value).
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, Option<String>>, DotenvError> {
    let src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: IndexMap<String, Option<String>> = IndexMap::new();
    let mut lines = LineCounter::default();
    let mut pos = 0;
    while let Some(start) = statement_start(src, pos) {
        let line = lines.line_at(src, start);
        let error = |message: String| DotenvError { line, message };
        let key = locate_key(src, start).map_err(error)?;
        match key.value_start {
            None => {
                let value = lookup(key.name);
                if value.is_some() || !out.contains_key(key.name) {
                    out.insert(key.name.to_owned(), value);
                }
                pos = key.next;
            }
            Some(value_start) => {
                let (raw, next) = extract_value(src, value_start).map_err(error)?;
                let value = match raw {
                    RawValue::Literal(v) => v,
                    RawValue::Interpolate(v) => {
                        // compose-go: the lookup (process environment) first, then the file.
                        let resolve =
                            |name: &str| lookup(name).or_else(|| out.get(name).cloned().flatten());
                        interpolate(&v, &resolve)
                            .map(|r| r.value.into_owned())
                            .map_err(|e| error(format!("{}: {e}", key.name)))?
                    }
                };
                out.insert(key.name.to_owned(), Some(value));
                pos = next;
            }
        }
    }
    Ok(out)
}

/// `env_file: {format: raw}`: `KEY=VALUE` taken literally (no quote processing, no
/// interpolation, trailing whitespace kept), as docker's `--env-file` reader does. Lines are
/// trimmed on the left; empty lines and lines starting with `#` are skipped. A bare `KEY` takes
/// `lookup(KEY)` and is `None` when unset, as in [`parse`].
pub fn parse_raw(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, Option<String>>, DotenvError> {
    let src = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: IndexMap<String, Option<String>> = IndexMap::new();
    for (index, raw_line) in src.split('\n').enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = match line.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(DotenvError {
                line: line_no,
                message: format!("no variable name on line {line:?}"),
            });
        }
        if key.contains([' ', '\t']) {
            return Err(DotenvError {
                line: line_no,
                message: format!("variable {key:?} contains whitespace"),
            });
        }
        match value {
            Some(value) => {
                out.insert(key.to_owned(), Some(value.to_owned()));
            }
            None => {
                let value = lookup(key);
                if value.is_some() || !out.contains_key(key) {
                    out.insert(key.to_owned(), value);
                }
            }
        }
    }
    Ok(out)
}

/// Turns byte offsets (visited in increasing order) into 1-based line numbers in linear time.
#[derive(Default)]
struct LineCounter {
    counted_to: usize,
    newlines: usize,
}

impl LineCounter {
    fn line_at(&mut self, src: &str, pos: usize) -> u32 {
        if pos > self.counted_to {
            self.newlines += src.as_bytes()[self.counted_to..pos]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            self.counted_to = pos;
        }
        u32::try_from(self.newlines + 1).unwrap_or(u32::MAX)
    }
}

/// Whitespace that does not end a line (compose-go's `isSpace`).
fn is_inline_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

/// Letters and digits of any script, `_`, `.`, `-`, `[`, `]` (compose-go accepts `a[1]`,
/// `a.b`, `x-y` as keys).
fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '[' | ']')
}

fn skip_inline_space(src: &str, pos: usize) -> usize {
    src[pos..]
        .find(|c: char| !is_inline_space(c))
        .map_or(src.len(), |n| pos + n)
}

/// Start of the next statement at or after `pos`, skipping blank space and comment lines.
fn statement_start(src: &str, mut pos: usize) -> Option<usize> {
    loop {
        let start = pos + src[pos..].find(|c: char| !c.is_whitespace())?;
        if !src[start..].starts_with('#') {
            return Some(start);
        }
        pos = start + src[start..].find('\n')?;
    }
}

struct Key<'a> {
    name: &'a str,
    /// Where the value starts (after `=`/`:` and spaces); `None` for a bare `KEY`.
    value_start: Option<usize>,
    /// Where the next statement may start, for a bare `KEY`.
    next: usize,
}

fn locate_key(src: &str, start: usize) -> Result<Key<'_>, String> {
    let mut key_start = start;
    // `export` followed by whitespace is a prefix; `export=1` or `exportFOO=1` are keys.
    if let Some(after) = src[start..].strip_prefix("export") {
        if after.starts_with(['\t', '\n', '\u{c}', '\r', ' ']) {
            key_start = skip_inline_space(src, start + "export".len());
        }
    }
    let rest = &src[key_start..];
    let mut terminator = None;
    for (i, c) in rest.char_indices() {
        match c {
            '=' | ':' | '\n' => {
                terminator = Some((i, c));
                break;
            }
            c if is_inline_space(c) || is_key_char(c) => {}
            c => {
                let first_line = rest.split('\n').next().unwrap_or(rest);
                return Err(format!(
                    "unexpected character {:?} in variable name {first_line:?}",
                    c.to_string()
                ));
            }
        }
    }
    // No terminator: a bare `KEY` on the last line.
    let (end, terminator) = terminator.unwrap_or((rest.len(), '\n'));
    let name = rest[..end].trim_end();
    if name.is_empty() {
        let first_line = rest.split('\n').next().unwrap_or(rest).trim_end();
        return Err(format!("missing variable name in {first_line:?}"));
    }
    if name.contains(char::is_whitespace) {
        return Err(format!("key cannot contain a space: {name:?}"));
    }
    let after = (key_start + end + terminator.len_utf8()).min(src.len());
    Ok(Key {
        name,
        value_start: (terminator != '\n').then(|| skip_inline_space(src, after)),
        next: after,
    })
}

enum RawValue {
    /// Single-quoted: used as is.
    Literal(String),
    /// Unquoted or double-quoted: still to be interpolated.
    Interpolate(String),
}

/// Reads the value starting at `pos`; returns it and where the next statement may start.
fn extract_value(src: &str, pos: usize) -> Result<(RawValue, usize), String> {
    let bytes = src.as_bytes();
    let quote = match bytes.get(pos) {
        Some(&q @ (b'"' | b'\'')) => q,
        _ => {
            let line_end = src[pos..].find('\n').map_or(src.len(), |n| pos + n);
            let mut value = &src[pos..line_end];
            // Inline comments need a space before `#`: `a#b` is a value.
            if let Some(hash) = value.find(" #") {
                value = &value[..hash];
            }
            let value = value.trim_end();
            return Ok((
                RawValue::Interpolate(value.to_owned()),
                (line_end + 1).min(src.len()),
            ));
        }
    };
    // `\<quote>` drops its backslash; any other `\x` is kept for escape processing.
    let mut value = String::new();
    let mut segment = pos + 1;
    let mut i = pos + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&quote) => {
                value.push_str(&src[segment..i]);
                value.push(char::from(quote));
                i += 2;
                segment = i;
            }
            // Skip the escaped byte so `\\` cannot escape a following quote; the pair stays
            // in the segment.
            b'\\' => i += 2,
            b if b == quote => {
                value.push_str(&src[segment..i]);
                let raw = if quote == b'"' {
                    RawValue::Interpolate(expand_escapes(&value))
                } else {
                    RawValue::Literal(value)
                };
                return Ok((raw, i + 1));
            }
            _ => i += 1,
        }
    }
    let first_line = src[pos..].split('\n').next().unwrap_or("").trim_end();
    Err(format!("unterminated quoted value {first_line}"))
}

/// Escape sequences of double-quoted values, as compose-go: `\a \b \f \n \r \t \v \\ \"`,
/// `\$` (a literal `$`), `\0ooo` (octal); any other backslash is kept.
fn expand_escapes(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = String::with_capacity(value.len());
    let mut segment = 0;
    let mut i = 0;
    while let Some(offset) = bytes[i..].iter().position(|&b| b == b'\\') {
        let slash = i + offset;
        let (replacement, consumed): (Option<&str>, usize) = match bytes.get(slash + 1) {
            Some(b'a') => (Some("\u{7}"), 2),
            Some(b'b') => (Some("\u{8}"), 2),
            Some(b'f') => (Some("\u{c}"), 2),
            Some(b'n') => (Some("\n"), 2),
            Some(b'r') => (Some("\r"), 2),
            Some(b't') => (Some("\t"), 2),
            Some(b'v') => (Some("\u{b}"), 2),
            Some(b'\\') => (Some("\\"), 2),
            Some(b'"') => (Some("\""), 2),
            // Interpolation turns `$$` into a literal `$`.
            Some(b'$') => (Some("$$"), 2),
            Some(b'0') => {
                let digits = bytes[slash + 2..]
                    .iter()
                    .take(3)
                    .take_while(|b| b.is_ascii_digit())
                    .count();
                // Only exactly three octal digits up to \377 decode; otherwise the whole
                // sequence stays as written.
                let code = (digits == 3)
                    .then(|| &value[slash + 2..slash + 5])
                    .and_then(|oct| u32::from_str_radix(oct, 8).ok())
                    .filter(|&n| n <= 0o377)
                    .and_then(char::from_u32);
                match code {
                    Some(c) => {
                        out.push_str(&value[segment..slash]);
                        out.push(c);
                        i = slash + 5;
                        segment = i;
                        continue;
                    }
                    None => (None, 2 + digits),
                }
            }
            _ => (None, 1),
        };
        if let Some(replacement) = replacement {
            out.push_str(&value[segment..slash]);
            out.push_str(replacement);
            segment = slash + consumed;
        }
        i = slash + consumed;
    }
    out.push_str(&value[segment..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn env(name: &str) -> Option<String> {
        match name {
            "HOME" => Some("/home/me".into()),
            "FROM_ENV" => Some("env".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn parsed(text: &str) -> Vec<(String, Option<String>)> {
        match parse(text, &env) {
            Ok(map) => map.into_iter().collect(),
            Err(e) => panic!("{text:?} failed: {e}"),
        }
    }

    fn one(text: &str) -> Option<String> {
        let all = parsed(text);
        assert_eq!(all.len(), 1, "{text:?} gave {all:?}");
        all.into_iter().next().and_then(|(_, v)| v)
    }

    #[test]
    fn parses_single_entries() {
        let cases: &[(&str, &str, &str)] = &[
            ("FOO=bar", "FOO", "bar"),
            ("FOO =bar", "FOO", "bar"),
            ("FOO= bar", "FOO", "bar"),
            ("FOO = bar", "FOO", "bar"),
            ("FOO=bar ", "FOO", "bar"),
            ("FOO=bar\t\r\n", "FOO", "bar"),
            ("FOO=", "FOO", ""),
            ("FOO=\n", "FOO", ""),
            ("FOO=foobar=", "FOO", "foobar="),
            ("FOO.BAR=foobar", "FOO.BAR", "foobar"),
            ("a[1]=c", "a[1]", "c"),
            ("my-key=v", "my-key", "v"),
            ("árvíztűrő=tükör", "árvíztűrő", "tükör"),
            ("lower_case=1", "lower_case", "1"),
            // yaml style
            ("OPTION_A: 1", "OPTION_A", "1"),
            ("OPTION_A: Foo=bar", "OPTION_A", "Foo=bar"),
            ("OPTION_A=1:B", "OPTION_A", "1:B"),
            // export
            ("export OPTION_A=2", "OPTION_A", "2"),
            ("export\tOPTION_A=2", "OPTION_A", "2"),
            ("  export OPTION_A=2", "OPTION_A", "2"),
            ("export   OPTION_A=2", "OPTION_A", "2"),
            ("export exportFoo=2", "exportFoo", "2"),
            ("exportFOO=2", "exportFOO", "2"),
            ("export_FOO =2", "export_FOO", "2"),
            ("export.FOO= 2", "export.FOO", "2"),
            ("export=2", "export", "2"),
            // inline comments
            ("FOO=bar # this is foo", "FOO", "bar"),
            ("FOO=bar# not a comment", "FOO", "bar# not a comment"),
            ("FOO=bar #", "FOO", "bar"),
            ("FOO=#bar", "FOO", "#bar"),
            ("FOO= #bar", "FOO", "#bar"),
            ("FOO=a b c", "FOO", "a b c"),
            // double quotes
            (r#"FOO="bar""#, "FOO", "bar"),
            (r#"FOO="bar" # comment"#, "FOO", "bar"),
            (r#"FOO="bar#baz" # comment"#, "FOO", "bar#baz"),
            (r#"FOO="ba #r""#, "FOO", "ba #r"),
            (r#"FOO="  padded  ""#, "FOO", "  padded  "),
            (r#"FOO="escaped\"bar""#, "FOO", "escaped\"bar"),
            (r#"FOO="'d'""#, "FOO", "'d'"),
            (
                r#"FOO="{\"hello\": \"json\"}""#,
                "FOO",
                r#"{"hello": "json"}"#,
            ),
            (r#"FOO="bar\nbaz""#, "FOO", "bar\nbaz"),
            (r#"FOO="some\tvalue""#, "FOO", "some\tvalue"),
            (r#"FOO="a\\b""#, "FOO", "a\\b"),
            (r#"FOO="a\\""#, "FOO", "a\\"),
            (r#"FOO="bar\n\ b\az""#, "FOO", "bar\n\\ b\u{7}z"),
            (r#"FOO="bar\\r\ b\az""#, "FOO", "bar\\r\\ b\u{7}z"),
            (r#"FOO="\c\x\q""#, "FOO", r"\c\x\q"),
            (r#"FOO="\0123\0101""#, "FOO", "SA"),
            (r#"FOO="\01\0""#, "FOO", r"\01\0"),
            (r#"FOO="\0777\0128""#, "FOO", r"\0777\0128"),
            (r#"FOO="\01234""#, "FOO", "S4"),
            (r#"FOO="foo\$BAR""#, "FOO", "foo$BAR"),
            (r#"FOO="foo\${BAR}""#, "FOO", "foo${BAR}"),
            (r#"FOO="""#, "FOO", ""),
            // single quotes: literal
            ("FOO='bar'", "FOO", "bar"),
            ("FOO='bar#baz' # comment", "FOO", "bar#baz"),
            ("FOO='$HOME ${HOME}'", "FOO", "$HOME ${HOME}"),
            (r"FOO='some\tvalue'", "FOO", r"some\tvalue"),
            (r"FOO='Let\'s go!'", "FOO", "Let's go!"),
            (r"export OPTION_B='\n'", "OPTION_B", r"\n"),
            ("FOO=''", "FOO", ""),
            // unquoted: no escapes
            (r"FOO=some\tvalue", "FOO", r"some\tvalue"),
            (r"FOO=a\nb", "FOO", r"a\nb"),
            // interpolation
            ("FOO=$HOME/x", "FOO", "/home/me/x"),
            ("FOO=${HOME}/x", "FOO", "/home/me/x"),
            (r#"FOO="${HOME}/x""#, "FOO", "/home/me/x"),
            ("FOO=${NOPE:-fallback}", "FOO", "fallback"),
            ("FOO=${EMPTY-kept}", "FOO", ""),
            ("FOO=$$HOME", "FOO", "$HOME"),
            ("FOO=$NOPE", "FOO", ""),
            ("FOO=price 5$", "FOO", "price 5$"),
            // the BOM
            ("\u{feff}FOO=bar", "FOO", "bar"),
        ];
        for (text, key, value) in cases {
            let all = parsed(text);
            assert_eq!(
                all,
                vec![((*key).to_owned(), Some((*value).to_owned()))],
                "input {text:?}"
            );
        }
    }

    #[test]
    fn skips_blank_and_comment_lines() {
        for text in [
            "",
            "\n",
            "\r\n",
            "\t\t ",
            "# Comment",
            "\t # comment",
            "#a\n\n  # b\r\n",
        ] {
            assert_eq!(parsed(text), vec![], "input {text:?}");
        }
    }

    #[test]
    fn bare_keys_take_the_environment() {
        let all = parsed("HOME\nNOPE\nEMPTY\n  FROM_ENV  \r\nLAST");
        assert_eq!(
            all,
            vec![
                ("HOME".into(), Some("/home/me".into())),
                ("NOPE".into(), None),
                ("EMPTY".into(), Some(String::new())),
                ("FROM_ENV".into(), Some("env".into())),
                ("LAST".into(), None),
            ]
        );
        // An unset bare key does not erase an earlier value.
        assert_eq!(
            parsed("NOPE=1\nNOPE"),
            vec![("NOPE".into(), Some("1".into()))]
        );
    }

    #[test]
    fn multi_line_quoted_values() {
        assert_eq!(
            one("FOO=\"first line\nsecond line\"\n"),
            Some("first line\nsecond line".into())
        );
        assert_eq!(one("FOO='a\r\nb'\r\n"), Some("a\r\nb".into()));
        let pem = "KEY=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nNEXT=1\n";
        assert_eq!(
            parsed(pem),
            vec![
                (
                    "KEY".into(),
                    Some("-----BEGIN KEY-----\nabc\n-----END KEY-----".into())
                ),
                ("NEXT".into(), Some("1".into())),
            ]
        );
    }

    #[test]
    fn later_duplicates_win_and_keep_first_position() {
        assert_eq!(
            parsed("A=1\nB=2\nA=3"),
            vec![
                ("A".into(), Some("3".into())),
                ("B".into(), Some("2".into()))
            ]
        );
    }

    #[test]
    fn interpolation_sees_earlier_keys_after_the_environment() {
        let all = parsed(
            "A=one\nB=${A}-two\nC=\"$B three\"\nD='$A'\nFROM_ENV=file\nE=$FROM_ENV\nF=${LATER}\nLATER=x",
        );
        assert_eq!(
            all,
            vec![
                ("A".into(), Some("one".into())),
                ("B".into(), Some("one-two".into())),
                ("C".into(), Some("one-two three".into())),
                ("D".into(), Some("$A".into())),
                ("FROM_ENV".into(), Some("file".into())),
                // the process environment wins over the file, as in compose-go
                ("E".into(), Some("env".into())),
                ("F".into(), Some(String::new())),
                ("LATER".into(), Some("x".into())),
            ]
        );
    }

    #[test]
    fn errors_carry_the_line() {
        let cases: &[(&str, u32, &str)] = &[
            (
                "lol$wut",
                1,
                "unexpected character \"$\" in variable name \"lol$wut\"",
            ),
            (
                "A=1\n\n%!(EXTRA string)=foo",
                3,
                "unexpected character \"%\"",
            ),
            ("A=1\nMY KEY=1", 2, "key cannot contain a space"),
            ("A=1\n=value", 2, "missing variable name"),
            (
                "A=1\nB=2\n\n# c\nC=\"unterminated",
                5,
                "unterminated quoted value \"unterminated",
            ),
            ("A=1\nB='x", 2, "unterminated quoted value 'x"),
            (
                "A=1\nB=${C:?C is required}",
                2,
                "B: required variable C is missing a value: C is required",
            ),
            ("A=1\r\nB=${", 2, "B: invalid interpolation format"),
            ("A=\"multi\nline\"\nB!=1", 3, "unexpected character \"!\""),
        ];
        for (text, line, message) in cases {
            let err = parse(text, &no_env).expect_err(text);
            assert_eq!(err.line, *line, "input {text:?}: {err}");
            assert!(
                err.message.contains(message),
                "input {text:?}: {:?} lacks {message:?}",
                err.message
            );
        }
        let err = parse("A=1\nB C=2", &no_env).expect_err("space in key");
        assert_eq!(err.to_string(), format!("line 2: {}", err.message));
    }

    #[test]
    fn reads_a_real_project_env() {
        let text = "\u{feff}# Project settings\r
COMPOSE_PROJECT_NAME=shop\r
export TAG=1.4.2\r
\r
# Database\r
POSTGRES_USER=shop\r
POSTGRES_PASSWORD='p@ss#word$1'   # single quotes: literal\r
POSTGRES_DB=${POSTGRES_USER}_db\r
DATABASE_URL=\"postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/${POSTGRES_DB}?sslmode=disable\"\r
\r
# Paths\r
DATA_DIR=${HOME}/shop-data\r
LOG_LEVEL=${LOG_LEVEL:-info}\r
GREETING=\"Hello\\tWorld\\n\"\r
CERT=\"-----BEGIN CERTIFICATE-----\r
MIIB\r
-----END CERTIFICATE-----\"\r
FROM_ENV\r
EMPTY_VALUE=\r
URL=http://example.com/#anchor # trailing comment\r
";
        let all = parse(text, &env).expect("parses");
        let get = |k: &str| all.get(k).cloned().flatten();
        assert_eq!(all.len(), 13);
        assert_eq!(get("COMPOSE_PROJECT_NAME").as_deref(), Some("shop"));
        assert_eq!(get("TAG").as_deref(), Some("1.4.2"));
        assert_eq!(get("POSTGRES_PASSWORD").as_deref(), Some("p@ss#word$1"));
        assert_eq!(get("POSTGRES_DB").as_deref(), Some("shop_db"));
        assert_eq!(
            get("DATABASE_URL").as_deref(),
            Some("postgres://shop:p@ss#word$1@db:5432/shop_db?sslmode=disable")
        );
        assert_eq!(get("DATA_DIR").as_deref(), Some("/home/me/shop-data"));
        assert_eq!(get("LOG_LEVEL").as_deref(), Some("info"));
        assert_eq!(get("GREETING").as_deref(), Some("Hello\tWorld\n"));
        assert_eq!(
            get("CERT").as_deref(),
            Some("-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----")
        );
        assert_eq!(get("FROM_ENV").as_deref(), Some("env"));
        assert_eq!(get("EMPTY_VALUE").as_deref(), Some(""));
        assert_eq!(get("URL").as_deref(), Some("http://example.com/#anchor"));
    }

    #[test]
    fn raw_format_takes_values_literally() {
        let text = "\u{feff}A=\"quoted\" \r\n  B=$HOME ${X:-y} # not a comment\n# comment\n\n\tC='x'\nD=a=b\nHOME\nNOPE\nE=\n";
        let all: Vec<_> = parse_raw(text, &env).expect("parses").into_iter().collect();
        assert_eq!(
            all,
            vec![
                ("A".into(), Some("\"quoted\" ".into())),
                ("B".into(), Some("$HOME ${X:-y} # not a comment".into())),
                ("C".into(), Some("'x'".into())),
                ("D".into(), Some("a=b".into())),
                ("HOME".into(), Some("/home/me".into())),
                ("NOPE".into(), None),
                ("E".into(), Some(String::new())),
            ]
        );
        let cases: &[(&str, u32, &str)] = &[
            ("A=1\n=x", 2, "no variable name"),
            ("A=1\n\nB C=1", 3, "contains whitespace"),
            ("A B", 1, "contains whitespace"),
        ];
        for (text, line, message) in cases {
            let err = parse_raw(text, &no_env).expect_err(text);
            assert_eq!(err.line, *line, "input {text:?}");
            assert!(err.message.contains(message), "input {text:?}: {err}");
        }
    }

    #[test]
    fn random_inputs_never_panic() {
        // A tiny deterministic generator over the characters the parsers care about.
        const ALPHABET: &[&str] = &[
            "$", "{", "}", ":", "-", "+", "?", "=", "#", " ", "\t", "\n", "\r", "\"", "'", "\\",
            "A", "b", "_", "1", "0", "é", "\u{85}", "\u{a0}", "\u{2003}", "export ", "${A:-",
            "\\0", "\u{feff}",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let lookup = |name: &str| (name.len() % 2 == 0).then(|| name.to_lowercase());
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let text: String = (0..len)
                .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                .collect();
            let _ = parse(&text, &lookup);
            let _ = parse_raw(&text, &lookup);
            let _ = interpolate(&text, &lookup);
        }
    }

    #[test]
    fn hostile_inputs_do_not_panic_or_blow_up() {
        let long_value = format!("A={}\n", "x".repeat(1_000_000));
        assert_eq!(parse(&long_value, &no_env).map(|m| m.len()), Ok(1));
        let many = "K=v # c\n".repeat(100_000);
        assert_eq!(parse(&many, &no_env).map(|m| m.len()), Ok(1));
        let bare = "K\n".repeat(100_000);
        assert_eq!(parse(&bare, &no_env).map(|m| m.len()), Ok(1));
        let comments = "#\n".repeat(100_000);
        assert_eq!(parse(&comments, &no_env).map(|m| m.len()), Ok(0));
        let escapes = format!("A=\"{}\"", "\\".repeat(100_001));
        assert!(parse(&escapes, &no_env).is_err());
        for junk in [
            "\"",
            "'",
            "=",
            ":",
            "export",
            "export ",
            "export\n",
            "A=\"\\",
            "A='\\'",
            "A=\"\\0",
            "A=\"\\01",
            "\u{feff}",
            "\u{2003}A=1",
            "A\u{2003}=1",
            "A=é\\",
            "é",
            "A=\"é\\é\"",
            "\r",
            "A:\r",
            "[]=]",
            "A=\"x\"y=z",
        ] {
            let _ = parse(junk, &no_env);
            let _ = parse_raw(junk, &no_env);
        }
    }
}
