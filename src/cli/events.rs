//! `hoist events`: the project's container events as they happen, in docker compose's text
//! format or one JSON object per line.

use std::time::{SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use serde_json::json;

use super::target::resolve;
use super::{engine_for, CliError, GlobalArgs};
use crate::engine::observe::{parse_time, project_events, ProjectEvent};
use crate::ui::logs::rfc3339;

#[derive(clap::Args, Debug, Clone, Default)]
pub struct EventsArgs {
    /// Services whose events to show (default: all)
    pub services: Vec<String>,
    /// Output events as a stream of json objects
    #[arg(long)]
    pub json: bool,
    /// Show all events created since timestamp
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: &EventsArgs) -> Result<i32, CliError> {
    let now = SystemTime::now();
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()?;
    let until = args
        .until
        .as_deref()
        .map(|s| parse_time(s, now))
        .transpose()?;
    let target = resolve(global, &args.services, false)?;
    let engine = engine_for(global).await?;
    let mut events =
        project_events(engine.runtime.as_ref(), &target.name, &args.services, since).await?;
    let deadline = until.map(|u| {
        let wait = u.duration_since(SystemTime::now()).unwrap_or_default();
        tokio::time::Instant::now() + wait
    });
    let until_nanos = until
        .and_then(|u| u.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos() as i64);
    loop {
        let next = async {
            match deadline {
                Some(d) => tokio::time::timeout_at(d, events.next())
                    .await
                    .ok()
                    .flatten(),
                None => events.next().await,
            }
        };
        let Some(event) = next.await else { break };
        let event = event?;
        if until_nanos.is_some_and(|u| event.time_nanos > u) {
            break;
        }
        if args.json {
            println!("{}", event_json(&event));
        } else {
            println!("{}", event_text(&event));
        }
    }
    Ok(0)
}

fn stamp(nanos: i64) -> String {
    let nanos = u64::try_from(nanos).unwrap_or(0);
    rfc3339(nanos / 1_000_000_000, (nanos % 1_000_000_000) as u32)
}

/// `2024-05-01 10:00:00.000000 container start <id> (image=busybox, name=shop-web-1)`.
pub fn event_text(e: &ProjectEvent) -> String {
    // RFC 3339 -> Go's "2006-01-02 15:04:05.000000" (microseconds, UTC).
    let time: String = stamp(e.time_nanos)
        .replacen('T', " ", 1)
        .chars()
        .take(26)
        .collect();
    let attributes: Vec<String> = e
        .attributes
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    format!(
        "{time} container {} {} ({})",
        e.action,
        e.container,
        attributes.join(", ")
    )
}

/// `{"action":"start","attributes":{...},"id":"...","service":"web","time":"...","type":"container"}`.
pub fn event_json(e: &ProjectEvent) -> serde_json::Value {
    json!({
        "action": e.action,
        "attributes": e.attributes,
        "id": e.container,
        "service": e.service,
        "time": stamp(e.time_nanos),
        "type": "container",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn events_print_like_docker_compose() {
        let e = ProjectEvent {
            time_nanos: 1_714_557_600_123_456_789,
            service: "web".into(),
            number: 1,
            oneoff: false,
            container: "abc".into(),
            action: "start".into(),
            attributes: BTreeMap::from([
                ("image".to_string(), "busybox".to_string()),
                ("name".to_string(), "shop-web-1".to_string()),
            ]),
        };
        assert_eq!(
            event_text(&e),
            "2024-05-01 10:00:00.123456 container start abc (image=busybox, name=shop-web-1)"
        );
        let j = event_json(&e);
        assert_eq!(j["time"], "2024-05-01T10:00:00.123456789Z");
        assert_eq!(j["service"], "web");
        assert_eq!(j["attributes"]["name"], "shop-web-1");
    }
}
