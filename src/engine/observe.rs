//! Read-only views of projects for `ps`, `logs`, `ls`, `images`, `top`, `port`, `events` and
//! `wait`: one container list call filtered by compose labels, turned into plain values the
//! CLI formats (compose's status, health, exit code, published ports and durations).
//!
//! Speed matters here (`ps` on a large project must feel instant), so nothing in this module
//! inspects containers one by one: everything comes from the list call's summaries.
//!
//! Not for: changing anything (see `up`/`down`), or printing (the CLI renders these values).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;

use crate::runtime::{
    BoxStream, ContainerListOptions, ContainerStatus, ContainerSummary, EventFilter, ImageSummary,
    LabelFilter, ObjectKind, PublishedPort, Runtime,
};

use super::error::EngineError;
use super::labels;

/// Which containers of a project to look at.
#[derive(Clone, Debug, Default)]
pub struct ContainerQuery {
    pub project: String,
    /// Only these services; empty = all.
    pub services: Vec<String>,
    /// Include stopped containers.
    pub all: bool,
    /// Include one-off (`run`) containers.
    pub oneoff: bool,
}

impl ContainerQuery {
    pub fn new(project: &str) -> Self {
        ContainerQuery {
            project: project.to_string(),
            ..ContainerQuery::default()
        }
    }
}

/// The project's containers matching `query`, sorted by name: one list call.
pub async fn project_containers(
    runtime: &dyn Runtime,
    query: &ContainerQuery,
) -> Result<Vec<ContainerSummary>, EngineError> {
    let mut filters = vec![LabelFilter::equals(labels::PROJECT, &query.project)];
    if !query.oneoff {
        filters.push(LabelFilter::equals(labels::ONEOFF, "False"));
    }
    // The engine filters one service for us; several need an OR, done below.
    if let [service] = query.services.as_slice() {
        filters.push(LabelFilter::equals(labels::SERVICE, service));
    }
    let options = ContainerListOptions {
        all: query.all,
        labels: filters,
    };
    let mut list = runtime
        .list_containers(&options)
        .await
        .map_err(|e| EngineError::runtime("list the project's containers", e))?;
    if query.services.len() > 1 {
        list.retain(|c| {
            c.labels
                .get(labels::SERVICE)
                .is_some_and(|s| query.services.contains(s))
        });
    }
    list.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(list)
}

/// The one container of `service` numbered `index` (from 1), or its first container by
/// number when `index` is `None`; running containers only unless `all`.
pub async fn service_container(
    runtime: &dyn Runtime,
    project: &str,
    service: &str,
    index: Option<u32>,
    all: bool,
) -> Result<ContainerSummary, EngineError> {
    let query = ContainerQuery {
        project: project.to_string(),
        services: vec![service.to_string()],
        all,
        oneoff: false,
    };
    let mut list = project_containers(runtime, &query).await?;
    list.sort_by_key(container_number);
    let found = match index {
        Some(n) => list.into_iter().find(|c| container_number(c) == n),
        None => list.into_iter().next(),
    };
    found.ok_or_else(|| match index {
        Some(n) => EngineError::new(format!(
            "service \"{service}\" is not running container #{n}"
        )),
        None => EngineError::new(format!("service \"{service}\" is not running")),
    })
}

/// `com.docker.compose.container-number`, 0 when missing.
pub fn container_number(c: &ContainerSummary) -> u32 {
    c.labels
        .get(labels::CONTAINER_NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The name compose shows in log prefixes: `web-1` for `shop-web-1` (the project prefix
/// dropped), the full name otherwise (`container_name:`).
pub fn short_name(c: &ContainerSummary) -> String {
    let label = |key: &str| c.labels.get(key).map_or("", String::as_str);
    short_name_of(&c.name, label(labels::PROJECT), label(labels::SERVICE))
}

/// [`short_name`] from the name and the project and service labels.
pub fn short_name_of(name: &str, project: &str, service: &str) -> String {
    for sep in ['-', '_'] {
        let prefix = format!("{project}{sep}{service}{sep}");
        if !project.is_empty() && name.starts_with(&prefix) {
            return name[project.len() + 1..].to_string();
        }
    }
    name.to_string()
}

/// A published port as compose's `ps --format json` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Publisher {
    pub url: String,
    pub target_port: u16,
    pub published_port: u16,
    pub protocol: String,
}

/// What `ps` shows of one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerView {
    pub id: String,
    pub name: String,
    pub image: String,
    pub command: String,
    pub project: String,
    pub service: String,
    /// `running`, `exited`...
    pub state: String,
    /// The runtime's human status, e.g. `Up 3 minutes (healthy)`.
    pub status: String,
    /// `healthy`, `unhealthy`, `starting`, or empty without a healthcheck.
    pub health: String,
    pub exit_code: i64,
    /// Unix seconds.
    pub created: i64,
    pub labels: BTreeMap<String, String>,
    pub publishers: Vec<Publisher>,
}

impl ContainerView {
    pub fn from_summary(c: &ContainerSummary) -> Self {
        let mut ports = c.ports.clone();
        ports.sort_by_key(|p| p.container_port);
        ContainerView {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            command: c.command.clone(),
            project: c.labels.get(labels::PROJECT).cloned().unwrap_or_default(),
            service: c.labels.get(labels::SERVICE).cloned().unwrap_or_default(),
            state: c.status.as_str().to_string(),
            status: c.status_text.clone(),
            health: health_from_status(&c.status_text).to_string(),
            exit_code: match c.status {
                ContainerStatus::Exited | ContainerStatus::Dead => {
                    exit_code_from_status(&c.status_text).unwrap_or(0)
                }
                _ => 0,
            },
            created: c.created,
            labels: c.labels.clone(),
            publishers: ports
                .iter()
                .map(|p| Publisher {
                    url: p.host_ip.clone(),
                    target_port: p.container_port,
                    published_port: p.host_port,
                    protocol: p.protocol.as_str().to_string(),
                })
                .collect(),
        }
    }
}

/// `Exited (137) 5 seconds ago` -> 137: the list call's status text carries the exit code,
/// which saves an inspect per container.
pub fn exit_code_from_status(status: &str) -> Option<i64> {
    let rest = status.strip_prefix("Exited (")?;
    let end = rest.find(')')?;
    rest[..end].parse().ok()
}

/// `Up 3 minutes (healthy)` -> `healthy`; `(health: starting)` -> `starting`.
pub fn health_from_status(status: &str) -> &'static str {
    if status.contains("(healthy)") {
        "healthy"
    } else if status.contains("(unhealthy)") {
        "unhealthy"
    } else if status.contains("(health: starting)") {
        "starting"
    } else {
        ""
    }
}

/// Docker's PORTS column: `0.0.0.0:8080->80/tcp, [::]:8080->80/tcp`, consecutive ports
/// folded into ranges (`0.0.0.0:8000-8001->8000-8001/tcp`).
pub fn displayable_ports(ports: &[PublishedPort]) -> String {
    let mut sorted: Vec<&PublishedPort> = ports.iter().collect();
    sorted.sort_by(|a, b| {
        (a.protocol.as_str(), &a.host_ip, a.container_port).cmp(&(
            b.protocol.as_str(),
            &b.host_ip,
            b.container_port,
        ))
    });
    // Runs of (ip, proto, first private, first public, length).
    let mut runs: Vec<(&str, &str, u16, u16, u16)> = Vec::new();
    for p in sorted {
        if let Some(last) = runs.last_mut() {
            let (ip, proto, private, public, len) = *last;
            if ip == p.host_ip
                && proto == p.protocol.as_str()
                && u32::from(private) + u32::from(len) == u32::from(p.container_port)
                && u32::from(public) + u32::from(len) == u32::from(p.host_port)
            {
                last.4 += 1;
                continue;
            }
        }
        runs.push((
            &p.host_ip,
            p.protocol.as_str(),
            p.container_port,
            p.host_port,
            1,
        ));
    }
    let range = |start: u16, len: u16| {
        if len > 1 {
            format!("{start}-{}", u32::from(start) + u32::from(len) - 1)
        } else {
            start.to_string()
        }
    };
    runs.iter()
        .map(|(ip, proto, private, public, len)| {
            let host = if ip.contains(':') {
                format!("[{ip}]")
            } else {
                ip.to_string()
            };
            format!(
                "{host}:{}->{}/{proto}",
                range(*public, *len),
                range(*private, *len)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Docker's human durations (`go-units.HumanDuration`): `5 seconds`, `About a minute`...
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", seconds / 3600 / 24 / 365)
    }
}

/// `N minutes ago` for a Unix time in seconds.
pub fn ago(unix_secs: i64, now: SystemTime) -> String {
    let now = now
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let elapsed = u64::try_from(now.saturating_sub(unix_secs)).unwrap_or(0);
    format!("{} ago", human_duration(Duration::from_secs(elapsed)))
}

/// Docker's human sizes with 3 significant digits, decimal units: `4.26MB`, `1.2kB`, `0B`.
pub fn human_size(bytes: i64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut size = bytes.max(0) as f64;
    let mut unit = 0;
    while size >= 1000.0 && unit < UNITS.len() - 1 {
        size /= 1000.0;
        unit += 1;
    }
    // %.3g: three significant digits, trailing zeros dropped.
    let decimals = if size >= 100.0 {
        0
    } else if size >= 10.0 {
        1
    } else {
        2
    };
    let mut text = format!("{size:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{text}{}", UNITS[unit])
}

/// One compose project found on the runtime (`ls`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectSummary {
    pub name: String,
    /// `running(2), exited(1)`: container counts by state, states sorted.
    pub status: String,
    /// The compose files, comma-separated, from the containers' labels.
    pub config_files: String,
}

/// Every project with containers on the runtime (running ones only unless `all`), sorted
/// by name.
pub async fn list_projects(
    runtime: &dyn Runtime,
    all: bool,
) -> Result<Vec<ProjectSummary>, EngineError> {
    let options = ContainerListOptions {
        all,
        labels: vec![LabelFilter::has(labels::PROJECT)],
    };
    let list = runtime
        .list_containers(&options)
        .await
        .map_err(|e| EngineError::runtime("list containers", e))?;
    Ok(projects_of(&list))
}

/// Groups containers into projects by their project label.
pub fn projects_of(containers: &[ContainerSummary]) -> Vec<ProjectSummary> {
    // project -> (state -> count, config files in first-seen order)
    let mut projects: BTreeMap<&str, (BTreeMap<&str, usize>, Vec<&str>)> = BTreeMap::new();
    for c in containers {
        let Some(project) = c.labels.get(labels::PROJECT) else {
            continue;
        };
        let entry = projects.entry(project).or_default();
        *entry.0.entry(c.status.as_str()).or_default() += 1;
        if let Some(files) = c.labels.get(labels::CONFIG_FILES) {
            for file in files.split(',').filter(|f| !f.is_empty()) {
                if !entry.1.contains(&file) {
                    entry.1.push(file);
                }
            }
        }
    }
    projects
        .into_iter()
        .map(|(name, (states, files))| ProjectSummary {
            name: name.to_string(),
            status: states
                .iter()
                .map(|(state, n)| format!("{state}({n})"))
                .collect::<Vec<_>>()
                .join(", "),
            config_files: files.join(","),
        })
        .collect()
}

/// The image a container runs, as `images` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerImage {
    pub container: String,
    pub repository: String,
    pub tag: String,
    /// `sha256:...`
    pub id: String,
    pub size: i64,
}

/// The images of `containers`, from one image list call.
pub async fn container_images(
    runtime: &dyn Runtime,
    containers: &[ContainerSummary],
) -> Result<Vec<ContainerImage>, EngineError> {
    let images = runtime
        .list_images(&[])
        .await
        .map_err(|e| EngineError::runtime("list images", e))?;
    Ok(match_images(containers, &images))
}

/// Pairs each container with its image (by id); the tag the container was created with wins
/// among the image's tags.
pub fn match_images(
    containers: &[ContainerSummary],
    images: &[ImageSummary],
) -> Vec<ContainerImage> {
    containers
        .iter()
        .map(|c| {
            let image = images.iter().find(|i| i.id == c.image_id);
            let tags: &[String] = image.map_or(&[], |i| i.repo_tags.as_slice());
            let wanted = with_default_tag(&c.image);
            let tag = tags
                .iter()
                .find(|t| **t == wanted)
                .or_else(|| tags.iter().find(|t| !t.starts_with("<none>")))
                .cloned()
                .unwrap_or_default();
            let (repository, tag) = split_reference(&tag);
            ContainerImage {
                container: c.name.clone(),
                repository,
                tag,
                id: if c.image_id.is_empty() {
                    image.map(|i| i.id.clone()).unwrap_or_default()
                } else {
                    c.image_id.clone()
                },
                size: image.map_or(0, |i| i.size),
            }
        })
        .collect()
}

fn with_default_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || last.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// `repo:tag` -> (`repo`, `tag`), the colon of a registry port left alone.
fn split_reference(reference: &str) -> (String, String) {
    let (repository, tag) = crate::runtime::split_tag(reference);
    (repository, tag.unwrap_or_default())
}

/// A runtime event of one of the project's containers, as `events` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectEvent {
    /// Unix nanoseconds.
    pub time_nanos: i64,
    pub service: String,
    /// The container's replica number (0 when unknown) and whether it is a one-off.
    pub number: u32,
    pub oneoff: bool,
    /// Container id.
    pub container: String,
    /// `create`, `start`, `die`...
    pub action: String,
    /// The event's attributes minus compose's own labels (`name`, `image`, `exitCode`...).
    pub attributes: BTreeMap<String, String>,
}

/// The project's container events from now on (or from `since`), filtered by service.
pub async fn project_events(
    runtime: &dyn Runtime,
    project: &str,
    services: &[String],
    since: Option<SystemTime>,
) -> Result<BoxStream<'static, Result<ProjectEvent, EngineError>>, EngineError> {
    let filter = EventFilter {
        labels: vec![LabelFilter::equals(labels::PROJECT, project)],
        kinds: vec![ObjectKind::Container],
        since,
    };
    let stream = runtime
        .events(&filter)
        .await
        .map_err(|e| EngineError::runtime("watch the project's events", e))?;
    let services = services.to_vec();
    Ok(stream
        .filter_map(move |event| {
            let keep = match event {
                Err(e) => Some(Err(EngineError::runtime("watch the project's events", e))),
                Ok(e) => {
                    let service = e
                        .attributes
                        .get(labels::SERVICE)
                        .cloned()
                        .unwrap_or_default();
                    if services.is_empty() || services.contains(&service) {
                        let number = e
                            .attributes
                            .get(labels::CONTAINER_NUMBER)
                            .and_then(|n| n.parse().ok())
                            .unwrap_or(0);
                        let oneoff = e
                            .attributes
                            .get(labels::ONEOFF)
                            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                        let attributes = e
                            .attributes
                            .into_iter()
                            .filter(|(k, _)| !k.starts_with("com.docker.compose."))
                            .collect();
                        Some(Ok(ProjectEvent {
                            time_nanos: e.time_nanos,
                            service,
                            number,
                            oneoff,
                            container: e.id,
                            action: e.action,
                            attributes,
                        }))
                    } else {
                        None
                    }
                }
            };
            std::future::ready(keep)
        })
        .boxed())
}

/// Parses a `--since`/`--until` value like docker: an RFC 3339 time (`2024-05-01T10:00:00Z`,
/// with or without fraction and offset), a date (`2024-05-01`), Unix seconds
/// (`1714557600[.5]`), or a duration before `now` (`10m`, `1h30m`, `2.5s`).
pub fn parse_time(value: &str, now: SystemTime) -> Result<SystemTime, EngineError> {
    let value = value.trim();
    let invalid = || {
        EngineError::new(format!(
            "invalid time \"{value}\": use an RFC 3339 time (2024-05-01T10:00:00Z), Unix seconds, or a duration like 10m"
        ))
    };
    if let Some(d) = crate::compose::model::Duration::parse_std(value) {
        return now.checked_sub(d).ok_or_else(invalid);
    }
    if let Ok(secs) = value.parse::<f64>() {
        if secs >= 0.0 && secs.is_finite() {
            return Ok(UNIX_EPOCH + Duration::from_secs_f64(secs));
        }
        return Err(invalid());
    }
    let secs = parse_rfc3339(value).ok_or_else(invalid)?;
    let d = Duration::from_secs_f64(secs.max(0.0));
    Ok(UNIX_EPOCH + d)
}

/// Seconds since the epoch of an RFC 3339 time or a bare `YYYY-MM-DD` date (UTC).
fn parse_rfc3339(s: &str) -> Option<f64> {
    let num = |t: &str| -> Option<i64> {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    let (date, time) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    };
    let mut parts = date.split('-');
    let (y, mo, d) = (
        num(parts.next()?)?,
        num(parts.next()?)?,
        num(parts.next()?)?,
    );
    if parts.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    let mut secs = (days * 86_400) as f64;
    if time.is_empty() {
        return Some(secs);
    }
    // Split the zone off: `Z`, `+hh:mm`, `-hh:mm`, or none (taken as UTC).
    let (clock, offset) = if let Some(t) = time.strip_suffix(['Z', 'z']) {
        (t, 0i64)
    } else if let Some(i) = time.rfind(['+', '-']) {
        let zone = &time[i + 1..];
        let (h, m) = zone.split_once(':').unwrap_or((zone, "0"));
        let sign = if time[i..].starts_with('-') { -1 } else { 1 };
        (&time[..i], sign * (num(h)? * 3600 + num(m)? * 60))
    } else {
        (time, 0)
    };
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut hms = hms.split(':');
    let (h, m) = (num(hms.next()?)?, num(hms.next()?)?);
    let sec = hms.next().map_or(Some(0), num)?;
    if h > 23 || m > 59 || sec > 60 {
        return None;
    }
    secs += (h * 3600 + m * 60 + sec - offset) as f64;
    if !fraction.is_empty() {
        num(fraction)?;
        secs += format!("0.{fraction}").parse::<f64>().ok()?;
    }
    Some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Protocol;

    fn summary(name: &str, state: &str, status: &str) -> ContainerSummary {
        ContainerSummary {
            id: format!("{name}-id"),
            name: name.to_string(),
            image: "busybox".into(),
            image_id: "sha256:abc".into(),
            command: "sleep 1".into(),
            labels: BTreeMap::from([
                (labels::PROJECT.to_string(), "shop".to_string()),
                (labels::SERVICE.to_string(), "web".to_string()),
                (
                    labels::CONFIG_FILES.to_string(),
                    "/p/compose.yaml".to_string(),
                ),
            ]),
            status: ContainerStatus::parse(state),
            status_text: status.into(),
            created: 0,
            ports: vec![],
        }
    }

    fn port(ip: &str, private: u16, public: u16) -> PublishedPort {
        PublishedPort {
            container_port: private,
            protocol: Protocol::Tcp,
            host_ip: ip.into(),
            host_port: public,
        }
    }

    #[test]
    fn status_text_gives_exit_code_and_health() {
        assert_eq!(
            exit_code_from_status("Exited (137) 5 seconds ago"),
            Some(137)
        );
        assert_eq!(exit_code_from_status("Up 2 seconds"), None);
        assert_eq!(health_from_status("Up 3 minutes (healthy)"), "healthy");
        assert_eq!(
            health_from_status("Up 1 second (health: starting)"),
            "starting"
        );
        assert_eq!(health_from_status("Up 3 minutes (unhealthy)"), "unhealthy");
        assert_eq!(health_from_status("Up 3 minutes"), "");
        let view = ContainerView::from_summary(&summary("a", "exited", "Exited (3) 1 second ago"));
        assert_eq!((view.exit_code, view.state.as_str()), (3, "exited"));
    }

    #[test]
    fn ports_display_like_docker_with_ranges() {
        let ports = [
            port("0.0.0.0", 80, 8080),
            port("::", 80, 8080),
            port("0.0.0.0", 8001, 9001),
            port("0.0.0.0", 8000, 9000),
        ];
        assert_eq!(
            displayable_ports(&ports),
            "0.0.0.0:8080->80/tcp, 0.0.0.0:9000-9001->8000-8001/tcp, [::]:8080->80/tcp"
        );
        assert_eq!(displayable_ports(&[]), "");
    }

    #[test]
    fn durations_and_sizes_read_like_docker() {
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(Duration::from_secs(4)), "4 seconds");
        assert_eq!(human_duration(Duration::from_secs(70)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(3 * 3600)), "3 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86_400)), "3 days");
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(1_200), "1.2kB");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(123_400_000), "123MB");
    }

    #[test]
    fn short_names_drop_the_project() {
        assert_eq!(short_name(&summary("shop-web-1", "running", "")), "web-1");
        assert_eq!(short_name(&summary("custom", "running", "")), "custom");
    }

    #[test]
    fn projects_group_states_sorted() {
        let list = [
            summary("shop-web-1", "running", ""),
            summary("shop-web-2", "running", ""),
            summary("shop-db-1", "exited", ""),
        ];
        let projects = projects_of(&list);
        assert_eq!(projects.len(), 1);
        assert_eq!(projects[0].status, "exited(1), running(2)");
        assert_eq!(projects[0].config_files, "/p/compose.yaml");
    }

    #[test]
    fn images_match_by_id_and_split_tags() {
        let images = [ImageSummary {
            id: "sha256:abc".into(),
            repo_tags: vec!["localhost:5000/app:1".into(), "busybox:latest".into()],
            size: 1000,
            ..ImageSummary::default()
        }];
        let found = match_images(&[summary("shop-web-1", "running", "")], &images);
        assert_eq!(found[0].repository, "busybox");
        assert_eq!(found[0].tag, "latest");
        assert_eq!(
            split_reference("localhost:5000/app"),
            ("localhost:5000/app".into(), String::new())
        );
    }

    #[test]
    fn times_parse_like_docker() {
        let now = UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(
            parse_time("10m", now).ok(),
            Some(UNIX_EPOCH + Duration::from_secs(1_000_000 - 600))
        );
        assert_eq!(
            parse_time("1h30m", now).ok(),
            Some(UNIX_EPOCH + Duration::from_secs(1_000_000 - 5400))
        );
        let t = |s: &str| {
            parse_time(s, now)
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64())
        };
        assert_eq!(t("2024-05-01T10:00:00Z"), Some(1_714_557_600.0));
        assert_eq!(t("2024-05-01T12:00:00+02:00"), Some(1_714_557_600.0));
        assert_eq!(t("2024-05-01T10:00:00.5Z"), Some(1_714_557_600.5));
        assert_eq!(t("2024-05-01"), Some(1_714_521_600.0));
        assert_eq!(t("1714557600"), Some(1_714_557_600.0));
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_time("2024-13-01", now).is_err());
        assert!(parse_time("10x", now).is_err());
    }
}
