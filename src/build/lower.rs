//! Named contexts for a builder that has none (the Docker engine's classic builder): the
//! Dockerfile is rewritten so that every reference to a named context names an image that
//! holds it. `FROM <name>` and `COPY --from=<name>` get the image; a stage of the context's
//! name is replaced by `FROM <image> AS <name>` with its instructions dropped, as BuildKit
//! replaces such a stage.
//!
//! Lines keep their numbers (dropped ones become empty), so the engine's error messages
//! still point at the user's Dockerfile.
//!
//! Not for: making the images (the docker backend imports a directory context as one), or
//! builders that resolve named contexts themselves (the native builder).

use std::collections::BTreeMap;

use super::dockerfile::{self, Instruction};

/// `text` with the named contexts of `images` (name -> image reference) replaced.
pub fn rewrite(text: &str, images: &BTreeMap<String, String>) -> Result<String, String> {
    let df = dockerfile::parse(text).map_err(|e| e.to_string())?;
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let image_of = |name: &str| {
        images
            .get(name)
            .or_else(|| images.get(&name.to_ascii_lowercase()))
    };
    for (i, stage) in df.stages.iter().enumerate() {
        let next = df.stages.get(i + 1).map_or(lines.len() + 1, |s| s.line);
        let replaced = stage.name.as_deref().and_then(image_of);
        if let Some(image) = replaced.or_else(|| image_of(&stage.base)) {
            replace_from_base(&mut lines, stage.line, &stage.base, image)?;
        }
        if replaced.is_some() {
            for line in lines.iter_mut().take(next - 1).skip(stage.line) {
                line.clear();
            }
            continue;
        }
        for (j, step) in stage.instructions.iter().enumerate() {
            let Instruction::Copy(args) = &step.instruction else {
                continue;
            };
            let Some(image) = args.from.as_deref().and_then(image_of) else {
                continue;
            };
            let end = stage.instructions.get(j + 1).map_or(next, |s| s.line);
            let from = args.from.as_deref().unwrap_or_default();
            replace_flag(&mut lines, step.line, end, from, image)?;
        }
    }
    Ok(lines.join("\n"))
}

/// Replaces the base `base` on the `FROM` at 1-based `line`.
fn replace_from_base(
    lines: &mut [String],
    line: usize,
    base: &str,
    image: &str,
) -> Result<(), String> {
    let text = &mut lines[line - 1];
    let mut offset = 0;
    let mut seen_keyword = false;
    for word in text.split_whitespace() {
        let at = offset + text[offset..].find(word).unwrap_or(0);
        offset = at + word.len();
        if !seen_keyword {
            seen_keyword = true;
            continue;
        }
        if word.starts_with("--") {
            continue;
        }
        if word == base {
            text.replace_range(at..offset, image);
            return Ok(());
        }
        break;
    }
    Err(format!(
        "Dockerfile line {line}: cannot apply the named context {base} for the Docker \
         engine's builder: write `FROM {base}` on one line"
    ))
}

/// Replaces `--from=<from>` in lines `line..end` (1-based, `end` excluded).
fn replace_flag(
    lines: &mut [String],
    line: usize,
    end: usize,
    from: &str,
    image: &str,
) -> Result<(), String> {
    let flag = format!("--from={from}");
    for text in lines.iter_mut().take(end - 1).skip(line - 1) {
        let found = text.match_indices(&flag).find(|(at, _)| {
            let after = text[at + flag.len()..].chars().next();
            after.is_none_or(char::is_whitespace)
        });
        if let Some((at, _)) = found {
            text.replace_range(at..at + flag.len(), &format!("--from={image}"));
            return Ok(());
        }
    }
    Err(format!(
        "Dockerfile line {line}: cannot apply the named context {from} for the Docker \
         engine's builder: spell it `--from={from}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn images(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn from_and_copy_from_name_the_image() {
        let text = "FROM base AS build\nRUN make\nFROM --platform=linux/amd64 scratch\n\
                    COPY --from=assets --chown=1:1 /x /y\nCOPY --from=build /out /out\n";
        let out = rewrite(
            text,
            &images(&[("base", "busybox:1"), ("assets", "ctx:abc")]),
        )
        .unwrap();
        assert_eq!(
            out,
            "FROM busybox:1 AS build\nRUN make\nFROM --platform=linux/amd64 scratch\n\
             COPY --from=ctx:abc --chown=1:1 /x /y\nCOPY --from=build /out /out\n"
        );
    }

    #[test]
    fn a_stage_of_the_context_name_is_replaced_and_lines_keep_their_numbers() {
        let text = "FROM alpine AS deps\nRUN <<EOF\napk add x\nEOF\n\nFROM deps\nCOPY --from=deps \\\n  /a /b\n";
        let out = rewrite(text, &images(&[("deps", "ctx:1")])).unwrap();
        assert_eq!(
            out,
            "FROM ctx:1 AS deps\n\n\n\n\nFROM ctx:1\nCOPY --from=ctx:1 \\\n  /a /b\n"
        );
    }

    #[test]
    fn names_that_are_not_contexts_stay() {
        let text = "FROM basement\nCOPY --from=base2 /a /b\n";
        let out = rewrite(text, &images(&[("base", "x")])).unwrap();
        assert_eq!(out, text);
    }
}
