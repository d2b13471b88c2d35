//! Docker's detach key sequence (`--detach-keys`, default `ctrl-p,ctrl-q`): parsed from its
//! text form, and spotted in what the user types so `attach` can leave the container running.
//!
//! Not for: reading the terminal (`session` does, and runs each chunk through a
//! [`DetachScanner`]).

/// The sequence docker uses when none is given.
pub const DEFAULT: &str = "ctrl-p,ctrl-q";

/// A parsed key sequence: the bytes the terminal sends for it, and the text it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetachKeys {
    text: String,
    bytes: Vec<u8>,
}

impl DetachKeys {
    /// Docker's syntax: comma-separated keys, each a single character or `ctrl-<c>` with
    /// `<c>` one of `a`-`z`, `@`, `[`, `\`, `]`, `^`, `_`. An empty text is the default.
    pub fn parse(text: &str) -> Result<DetachKeys, String> {
        let text = if text.is_empty() { DEFAULT } else { text };
        let bytes = text
            .split(',')
            .map(key_byte)
            .collect::<Result<Vec<u8>, String>>()
            .map_err(|e| {
                format!(
                    "invalid --detach-keys {text:?}: {e}; give comma-separated keys, each a \
                     single character or ctrl-<a-z, @, [, \\, ], ^ or _> (default {DEFAULT})"
                )
            })?;
        Ok(DetachKeys {
            text: text.to_string(),
            bytes,
        })
    }

    /// The sequence as docker writes it (what the Docker engine is told).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// A scanner of typed input, at the start of the sequence.
    pub fn scanner(&self) -> DetachScanner {
        DetachScanner {
            keys: self.bytes.clone(),
            matched: 0,
        }
    }
}

impl Default for DetachKeys {
    fn default() -> Self {
        DetachKeys {
            text: DEFAULT.to_string(),
            bytes: vec![0x10, 0x11],
        }
    }
}

/// The byte of one key of the sequence.
fn key_byte(key: &str) -> Result<u8, String> {
    if let [b] = key.as_bytes() {
        return Ok(*b);
    }
    let Some(c) = key.strip_prefix("ctrl-") else {
        return Err(format!("unknown key {key:?}"));
    };
    match c.as_bytes() {
        [b @ b'a'..=b'z'] => Ok(b - b'a' + 1),
        [b'@'] => Ok(0),
        [b'['] => Ok(27),
        [b'\\'] => Ok(28),
        [b']'] => Ok(29),
        [b'^'] => Ok(30),
        [b'_'] => Ok(31),
        _ => Err(format!("unknown key {key:?}")),
    }
}

/// Watches typed input for the sequence. A key that may start it is held back until the
/// next one shows whether it does (then passed on), as the Docker engine does.
#[derive(Debug)]
pub struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    /// What of `input` to pass on to the process, and whether the sequence is now complete
    /// (what follows it in `input` is dropped: the session ends).
    pub fn scan(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if b != self.keys[self.matched] {
                // Not the sequence after all: what was held back goes through.
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b != self.keys[0] {
                    out.push(b);
                    continue;
                }
            }
            self.matched += 1;
            if self.matched == self.keys.len() {
                return (out, true);
            }
        }
        (out, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_dockers_syntax_and_defaults_to_ctrl_p_ctrl_q() {
        assert_eq!(DetachKeys::parse("").unwrap(), DetachKeys::default());
        assert_eq!(
            DetachKeys::parse("ctrl-p,ctrl-q").unwrap(),
            DetachKeys::default()
        );
        let keys = DetachKeys::parse("ctrl-a,x,ctrl-@,ctrl-_,ctrl-\\").unwrap();
        assert_eq!(keys.bytes, vec![1, b'x', 0, 31, 28]);
        assert_eq!(keys.as_str(), "ctrl-a,x,ctrl-@,ctrl-_,ctrl-\\");
    }

    #[test]
    fn rejects_unknown_keys_saying_what_is_accepted() {
        for bad in ["ctrl-", "ctrl-P", "ctrl-p,", "esc", "ctrl-1", "é"] {
            let err = DetachKeys::parse(bad).unwrap_err();
            assert!(err.contains("invalid --detach-keys"), "{bad}: {err}");
            assert!(err.contains("ctrl-<a-z"), "{bad}: {err}");
        }
    }

    #[test]
    fn scanner_detaches_on_the_sequence_split_or_whole() {
        let keys = DetachKeys::default();
        let mut s = keys.scanner();
        assert_eq!(s.scan(b"ls\r"), (b"ls\r".to_vec(), false));
        assert_eq!(s.scan(b"\x10"), (vec![], false));
        assert_eq!(s.scan(b"\x11more"), (vec![], true));
        let mut s = keys.scanner();
        assert_eq!(s.scan(b"ab\x10\x11cd"), (b"ab".to_vec(), true));
    }

    #[test]
    fn scanner_passes_a_held_key_on_when_the_sequence_breaks() {
        let mut s = DetachKeys::default().scanner();
        assert_eq!(s.scan(b"\x10"), (vec![], false));
        assert_eq!(s.scan(b"x"), (b"\x10x".to_vec(), false));
        // A repeated first key: the first goes through, the second may still start it.
        assert_eq!(s.scan(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(s.scan(b"\x11"), (vec![], true));
    }
}
