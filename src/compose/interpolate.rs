//! Compose variable interpolation: `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR-default}`,
//! `${VAR:?error}`, `${VAR?error}`, `${VAR:+alternate}`, `${VAR+alternate}`, nesting inside
//! defaults/alternates/messages, and `$$` as a literal `$`.
//!
//! This is a hand-written scanner that reproduces, edge case for edge case, what compose-go's
//! `template` package (v2) does with its regular expression: the expression of a `${NAME<op>...}`
//! first extends to the last `}` on its line, then is cut at the first balanced `}` (compose-go's
//! brace counting); `$` before anything that is not `$`, `{` or a name start stays literal;
//! malformed `${...}` is an error. Defaults, alternates and messages are interpolated only when
//! used (compose-go >= 2.10 behaviour).
//!
//! Not for: deciding where variables come from (the caller passes `lookup`), walking YAML, or
//! warning about unset variables (the names are returned in [`Interpolated::unset`]).

use std::borrow::Cow;
use std::fmt;

/// Nesting deeper than this (`${A:-${B:-${C:-...}}}`) is refused instead of risking the stack.
/// compose-go has no limit; no real file comes near it.
const MAX_DEPTH: usize = 128;

/// The result of [`interpolate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated<'a> {
    /// The interpolated text; borrowed from the input when the input holds no `$`.
    pub value: Cow<'a, str>,
    /// Variables substituted with an empty string because they were unset and had no
    /// default/alternate/required operator, in order of use (a name may repeat). compose
    /// warns about each: `The "FOO" variable is not set. Defaulting to a blank string.`
    pub unset: Vec<String>,
}

/// Why a template could not be interpolated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolateError {
    /// `${VAR:?msg}` / `${VAR?msg}` tripped: carry the variable and the user's message
    /// (itself interpolated; empty when the user gave none).
    Required { var: String, message: String },
    /// Malformed template, e.g. `${}`, `${FOO`, `${FOO:x}`, `${ FOO}`. `message` holds the
    /// whole template that failed.
    Invalid { message: String },
}

impl fmt::Display for InterpolateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Required { var, message } if message.is_empty() => {
                write!(f, "required variable {var} is missing a value")
            }
            Self::Required { var, message } => {
                write!(f, "required variable {var} is missing a value: {message}")
            }
            Self::Invalid { message } => write!(
                f,
                "invalid interpolation format {message:?}: you may need to escape any $ with another $"
            ),
        }
    }
}

impl std::error::Error for InterpolateError {}

/// Interpolates `input` the way docker compose v2 does. `lookup` returns `None` for an unset
/// variable and `Some("")` for one set to the empty string; the two differ for `-`, `?`, `+`.
pub fn interpolate<'a>(
    input: &'a str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated<'a>, InterpolateError> {
    if !input.as_bytes().contains(&b'$') {
        return Ok(Interpolated {
            value: Cow::Borrowed(input),
            unset: Vec::new(),
        });
    }
    let mut expander = Expander {
        lookup,
        unset: Vec::new(),
        whole: input,
    };
    let mut out = String::with_capacity(input.len());
    expander.expand(input, &mut out, 0)?;
    Ok(Interpolated {
        value: Cow::Owned(out),
        unset: expander.unset,
    })
}

struct Expander<'l, 'w> {
    lookup: &'l dyn Fn(&str) -> Option<String>,
    unset: Vec<String>,
    /// The top-level template, quoted in `Invalid` errors.
    whole: &'w str,
}

/// The operator after the name in `${NAME<op>arg}`.
#[derive(Clone, Copy)]
struct Operator {
    /// `:-`, `:?`, `:+` (empty counts as unset) rather than `-`, `?`, `+`.
    colon: bool,
    kind: u8,
}

/// Where the last `}` of the current line is, remembered so that many `${...}` on one long
/// line cost one scan of the line, not one each.
#[derive(Clone, Copy)]
struct LineBraces {
    /// The cache answers for positions in `from..line_end`.
    from: usize,
    line_end: usize,
    last_brace: Option<usize>,
}

impl Expander<'_, '_> {
    fn invalid(&self) -> InterpolateError {
        InterpolateError::Invalid {
            message: self.whole.to_owned(),
        }
    }

    /// Appends the interpolation of `template` to `out`.
    fn expand(
        &mut self,
        template: &str,
        out: &mut String,
        depth: usize,
    ) -> Result<(), InterpolateError> {
        if depth > MAX_DEPTH {
            return Err(self.invalid());
        }
        let bytes = template.as_bytes();
        let mut literal_start = 0;
        let mut i = 0;
        let mut braces: Option<LineBraces> = None;
        while let Some(offset) = bytes[i..].iter().position(|&b| b == b'$') {
            let dollar = i + offset;
            match bytes.get(dollar + 1) {
                Some(b'$') => {
                    out.push_str(&template[literal_start..dollar]);
                    out.push('$');
                    i = dollar + 2;
                    literal_start = i;
                }
                Some(&c) if is_name_start(c) => {
                    out.push_str(&template[literal_start..dollar]);
                    let end = name_end(bytes, dollar + 1);
                    self.substitute_plain(&template[dollar + 1..end], out);
                    i = end;
                    literal_start = i;
                }
                Some(b'{') => {
                    out.push_str(&template[literal_start..dollar]);
                    i = self.expand_braced(template, dollar, out, depth, &mut braces)?;
                    literal_start = i;
                }
                // A `$` before anything else (or at the end) is literal text, as in compose-go.
                _ => i = dollar + 1,
            }
        }
        out.push_str(&template[literal_start..]);
        Ok(())
    }

    /// `$NAME`, `${NAME}`: the value, or empty (and noted) when unset.
    fn substitute_plain(&mut self, name: &str, out: &mut String) {
        match (self.lookup)(name) {
            Some(value) => out.push_str(&value),
            None => self.unset.push(name.to_owned()),
        }
    }

    /// Expands the `${...}` whose `$` is at `dollar`; returns where scanning resumes.
    fn expand_braced(
        &mut self,
        template: &str,
        dollar: usize,
        out: &mut String,
        depth: usize,
        braces: &mut Option<LineBraces>,
    ) -> Result<usize, InterpolateError> {
        let bytes = template.as_bytes();
        let name_start = dollar + 2;
        if !bytes.get(name_start).copied().is_some_and(is_name_start) {
            return Err(self.invalid());
        }
        let name_stop = name_end(bytes, name_start);
        let name = &template[name_start..name_stop];
        let (operator, op_len) = match (bytes.get(name_stop), bytes.get(name_stop + 1)) {
            (Some(b'}'), _) => {
                self.substitute_plain(name, out);
                return Ok(name_stop + 1);
            }
            (Some(b':'), Some(&kind @ (b'-' | b'?' | b'+'))) => (Operator { colon: true, kind }, 2),
            (Some(&kind @ (b'-' | b'?' | b'+')), _) => (Operator { colon: false, kind }, 1),
            _ => return Err(self.invalid()),
        };
        let arg_start = name_stop + op_len;
        // compose-go's regex takes everything up to the last `}` of the line...
        let Some(last_brace) = last_brace_on_line(bytes, arg_start, braces) else {
            return Err(self.invalid());
        };
        // ...then cuts it at the first balanced `}`; the remainder is interpolated as plain text.
        let close =
            first_closing_brace(&bytes[dollar..=last_brace]).map_or(last_brace, |c| dollar + c);
        let arg = &template[arg_start..close];
        self.apply(name, operator, arg, out, depth)?;
        Ok(close + 1)
    }

    fn apply(
        &mut self,
        name: &str,
        operator: Operator,
        arg: &str,
        out: &mut String,
        depth: usize,
    ) -> Result<(), InterpolateError> {
        let value = (self.lookup)(name);
        // "Missing" is unset, or also empty with the `:` forms.
        let missing = match &value {
            None => true,
            Some(v) => operator.colon && v.is_empty(),
        };
        match operator.kind {
            b'-' if missing => self.expand(arg, out, depth + 1)?,
            b'+' if !missing => self.expand(arg, out, depth + 1)?,
            b'?' if missing => {
                let mut message = String::new();
                self.expand(arg, &mut message, depth + 1)?;
                return Err(InterpolateError::Required {
                    var: name.to_owned(),
                    message,
                });
            }
            _ => out.push_str(value.as_deref().unwrap_or("")),
        }
        Ok(())
    }
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

/// End of the `[A-Za-z0-9_]*` run starting at `start`.
fn name_end(bytes: &[u8], start: usize) -> usize {
    bytes[start..]
        .iter()
        .position(|&c| !(c.is_ascii_alphanumeric() || c == b'_'))
        .map_or(bytes.len(), |n| start + n)
}

/// The last `}` at or after `from` and before the next newline (compose-go's `.` does not
/// match `\n`).
fn last_brace_on_line(bytes: &[u8], from: usize, cache: &mut Option<LineBraces>) -> Option<usize> {
    let cached = match *cache {
        Some(c) if c.from <= from && from < c.line_end => c,
        _ => {
            let line_end = bytes[from..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(bytes.len(), |n| from + n);
            let last_brace = bytes[from..line_end]
                .iter()
                .rposition(|&b| b == b'}')
                .map(|n| from + n);
            let fresh = LineBraces {
                from,
                line_end,
                last_brace,
            };
            *cache = Some(fresh);
            fresh
        }
    };
    cached.last_brace.filter(|&b| b >= from)
}

/// compose-go's `getFirstBraceClosingIndex`, quirks included: each `{` opens a level and skips
/// the byte after it; returns the index of the `}` that brings the level back to zero.
fn first_closing_brace(s: &[u8]) -> Option<usize> {
    let mut open: i64 = 0;
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if s[i] == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FOO=first, BAR="" (set but empty), EMPTY="" ; everything else unset.
    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("first".into()),
            "BAR" | "EMPTY" => Some(String::new()),
            "lower" => Some("low".into()),
            "B" => Some("bee".into()),
            _ => None,
        }
    }

    fn ok(input: &str) -> String {
        match interpolate(input, &env) {
            Ok(r) => r.value.into_owned(),
            Err(e) => panic!("{input:?} failed: {e}"),
        }
    }

    #[test]
    fn substitutes_every_form() {
        let cases: &[(&str, &str)] = &[
            // plain
            ("no dollar at all", "no dollar at all"),
            ("$FOO", "first"),
            ("${FOO}", "first"),
            ("x${FOO}y", "xfirsty"),
            ("$FOO-bar", "first-bar"),
            ("$FOO.bar", "first.bar"),
            ("$FOObar", ""),
            ("${lower}", "low"),
            ("$lower", "low"),
            ("${UNSET}", ""),
            ("$UNSET", ""),
            ("${BAR}", ""),
            ("This ${missing} var", "This  var"),
            // :- and -
            ("${UNSET:-def}", "def"),
            ("${UNSET-def}", "def"),
            ("${BAR:-def}", "def"),
            ("${BAR-def}", ""),
            ("${FOO:-def}", "first"),
            ("${FOO-def}", "first"),
            ("${UNSET:-}", ""),
            ("${UNSET-}", ""),
            ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
            ("${UNSET-myerror?msg}", "myerror?msg"),
            ("${UNSET:-a b  c}", "a b  c"),
            // :+ and +
            ("${FOO:+alt}", "alt"),
            ("${FOO+alt}", "alt"),
            ("${BAR:+alt}", ""),
            ("${BAR+alt}", "alt"),
            ("${UNSET:+alt}", ""),
            ("${UNSET+alt}", ""),
            // :? and ? when satisfied
            ("${FOO:?err}", "first"),
            ("${FOO?err}", "first"),
            ("${BAR?err}", ""),
            ("${FOO?bar-baz}", "first"),
            // escapes
            ("$$", "$"),
            ("$${FOO}", "${FOO}"),
            ("$$FOO", "$FOO"),
            ("$$$FOO", "$first"),
            ("$$$$", "$$"),
            ("a$$b", "a$b"),
            ("${UNSET:-$$}", "$"),
            // lone `$` stays literal
            ("$", "$"),
            ("a $ string", "a $ string"),
            ("^REGEX$", "^REGEX$"),
            ("$}", "$}"),
            ("$1", "$1"),
            ("$-x", "$-x"),
            ("price: 5$", "price: 5$"),
            ("$é", "$é"),
            ("é$FOOé", "éfirsté"),
            // several on a line
            ("${FOO} ${FOO}", "first first"),
            ("${UNSET:-a} ${UNSET:-b}", "a b"),
            ("${UNSET:-a}-${FOO}-${UNSET:-c}", "a-first-c"),
            ("${UNSET:-x}}", "x}"),
            ("${UNSET:-}}", "}"),
            ("-ok ${BAR:-defaultValue}", "-ok defaultValue"),
            (":?ok ${BAR-defaultValue}", ":?ok "),
            ("+ok ${BAR-defaultValue}", "+ok "),
            ("?ok ${BAR:-defaultValue}", "?ok defaultValue"),
            // multi-line text: each line on its own
            ("${UNSET:-a}\n${UNSET:-b}", "a\nb"),
            ("${FOO}\n$FOO\n", "first\nfirst\n"),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn nests_in_defaults_alternates_and_messages() {
        let cases: &[(&str, &str)] = &[
            ("${UNSET:-${B:-x}}", "bee"),
            ("${UNSET:-${UNSET2:-x}}", "x"),
            ("${UNSET:-$B}", "bee"),
            ("${UNSET:-$B and $FOO}", "bee and first"),
            ("${FOO:+pre-${B}}", "pre-bee"),
            ("${UNSET-${FOO} ${FOO}}", "first first"),
            ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
            ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
            ("${UNSET:-${UNSET2:-${UNSET3:-deep}}}", "deep"),
            ("${UNSET:-{x}}", "{x}"),
            ("${UNSET:-{}}", "{}"),
            ("${UNSET:-{}", "{"),
            ("${UNSET:-a{b}c}", "a{b}c"),
            ("[${UNSET:-${B}}]", "[bee]"),
            // unused defaults are not evaluated (compose-go >= 2.10)
            ("${FOO:-${BROKEN}", "first"),
            ("${FOO:-${REQ:?boom}}", "first"),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn required_errors_carry_var_and_message() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "not ok ${UNSET:?Mandatory Variable Unset}",
                "UNSET",
                "Mandatory Variable Unset",
            ),
            (
                "not ok ${BAR:?Mandatory Variable Empty}",
                "BAR",
                "Mandatory Variable Empty",
            ),
            ("${UNSET:?}", "UNSET", ""),
            ("${UNSET?msg}", "UNSET", "msg"),
            ("${UNSET?}", "UNSET", ""),
            ("${UNSET?bar-baz}", "UNSET", "bar-baz"),
            ("${UNSET:?Mandatory ${FOO}}", "UNSET", "Mandatory first"),
            ("${UNSET?need $B}", "UNSET", "need bee"),
            ("${UNSET:-${INNER:?inner}}", "INNER", "inner"),
            ("${FOO} then ${UNSET:?late}", "UNSET", "late"),
        ];
        for (input, var, message) in cases {
            let err = interpolate(input, &env).expect_err(input);
            assert_eq!(
                err,
                InterpolateError::Required {
                    var: (*var).into(),
                    message: (*message).into()
                },
                "input {input:?}"
            );
        }
    }

    #[test]
    fn malformed_templates_are_invalid() {
        let cases = [
            "${",
            "${}",
            "${ }",
            "${ foo}",
            "${foo }",
            "${foo!}",
            "${FOO",
            "${FOO:x}",
            "${FOO:}",
            "${1}",
            "${FOO:-unclosed",
            "${FOO:-x\n}",
            "ok ${FOO} ${",
            "${UNSET:-${B}",
            "${UNSET:-${B} ${C}",
            "${UNSET:+x}${UNSET:-${}}",
            "${UNSET?${}}",
        ];
        for input in cases {
            match interpolate(input, &env) {
                Err(InterpolateError::Invalid { message }) => assert_eq!(message, input),
                other => panic!("{input:?}: expected Invalid, got {other:?}"),
            }
        }
    }

    #[test]
    fn error_messages_read_like_compose() {
        let required = InterpolateError::Required {
            var: "FOO".into(),
            message: "set it".into(),
        };
        assert_eq!(
            required.to_string(),
            "required variable FOO is missing a value: set it"
        );
        let bare = InterpolateError::Required {
            var: "FOO".into(),
            message: String::new(),
        };
        assert_eq!(bare.to_string(), "required variable FOO is missing a value");
        let invalid = interpolate("a ${", &env).expect_err("invalid");
        assert_eq!(
            invalid.to_string(),
            "invalid interpolation format \"a ${\": you may need to escape any $ with another $"
        );
    }

    #[test]
    fn reports_unset_variables_without_default() {
        let r = interpolate(
            "$A ${B} ${C:-x} ${D-x} ${E:+x} ${F+x} ${G} ${UNSET:-$H} $A",
            &env,
        )
        .expect("interpolates");
        assert_eq!(r.unset, ["A", "G", "H", "A"]);
        assert_eq!(r.value, " bee x x     ");
    }

    #[test]
    fn borrows_input_without_dollar() {
        let input = "plain text";
        let r = interpolate(input, &env).expect("interpolates");
        assert!(matches!(r.value, Cow::Borrowed(s) if std::ptr::eq(s, input)));
    }

    #[test]
    fn long_inputs_stay_linear_and_never_panic() {
        // Many expressions on one line: one scan of the line, no recursion per expression.
        let line = "${UNSET:-x}".repeat(50_000);
        assert_eq!(ok(&line), "x".repeat(50_000));
        let many = "$FOO ".repeat(50_000);
        assert_eq!(ok(&many).len(), "first ".len() * 50_000);
        // Pathological nesting is refused, not a stack overflow.
        let deep = format!("{}x{}", "${UNSET:-".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(
            interpolate(&deep, &env),
            Err(InterpolateError::Invalid { .. })
        ));
        for junk in [
            "${{{{",
            "}}}}${",
            "${A:-{{{{}",
            "$$$$$",
            "${A:-}}}}}}",
            "${_:+{",
            "\u{0}$\u{0}",
        ] {
            let _ = interpolate(junk, &env);
        }
    }
}
