//! The subset of Go's text/template the Docker CLI's `--format` flags are used with:
//! `{{.Field}}` and `{{json .Field}}` over a JSON value, as `docker inspect -f` and
//! `docker compose ps --format` print them, and the `table` form of list commands.

/// The subset of Go templates `inspect --format` takes: literal text around `{{.A.B}}`
/// (printed as Go prints it) and `{{json .A.B}}`.
pub fn render(template: &str, value: &serde_json::Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template \"{template}\": unclosed {{{{"))?;
        let action = after[..end].trim();
        let (json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let Some(path) = path.strip_prefix('.') else {
            return Err(format!(
                "template \"{template}\": only {{{{.Field}}}} and {{{{json .Field}}}} are supported, not {{{{{action}}}}}"
            ));
        };
        let mut v = value;
        for field in path.split('.').filter(|f| !f.is_empty()) {
            v = v
                .get(field)
                .ok_or_else(|| format!("template \"{template}\": no field {field}"))?;
        }
        if json {
            out.push_str(&v.to_string());
        } else {
            out.push_str(&go_text(v));
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

/// How Go's `fmt` prints a decoded JSON value (`[a b]`, `map[k:v]`, `<nil>`).
pub fn go_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "<nil>".to_string(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items.iter().map(go_text).collect::<Vec<_>>().join(" ")
            )
        }
        serde_json::Value::Object(map) => {
            let mut entries: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{k}:{}", go_text(v)))
                .collect();
            entries.sort();
            format!("map[{}]", entries.join(" "))
        }
        other => other.to_string(),
    }
}

/// A `--format` value as the Docker CLI reads it: the literal escapes `\t` and `\n` become
/// a tab and a newline.
pub fn unescape(format: &str) -> String {
    format.replace("\\t", "\t").replace("\\n", "\n")
}
