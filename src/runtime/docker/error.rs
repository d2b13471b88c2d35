//! Turning bollard's errors into [`RuntimeError`]s the engine can act on.

use bollard::errors::Error as BollardError;

use crate::runtime::{ObjectKind, RuntimeError};

/// What was being done when an error happened, so the message can say so.
pub(super) struct Context<'a> {
    pub endpoint: &'a str,
    pub operation: &'static str,
    pub kind: ObjectKind,
    pub name: &'a str,
}

pub(super) const UNREACHABLE_HINT: &str = "start Docker or use `--backend native`";

pub(super) fn unreachable(endpoint: &str) -> RuntimeError {
    RuntimeError::EngineUnreachable {
        endpoint: endpoint.to_string(),
        hint: UNREACHABLE_HINT.to_string(),
    }
}

/// Whether a transport error means nothing is listening (as opposed to a broken reply).
pub(super) fn is_connection_failure(err: &BollardError) -> bool {
    match err {
        BollardError::SocketNotFoundError(_) => true,
        BollardError::IOError { err } => matches!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::NotFound
                | std::io::ErrorKind::PermissionDenied
                | std::io::ErrorKind::ConnectionReset
        ),
        BollardError::HyperLegacyError { err } => err.is_connect(),
        _ => false,
    }
}

/// The kind of object a Docker "not found" message is about; Docker answers 404 for a
/// missing image at container create, or a missing network at connect.
fn missing_kind(message: &str, default: ObjectKind) -> ObjectKind {
    let m = message.to_ascii_lowercase();
    if m.contains("no such image") || m.contains("pull access denied") {
        ObjectKind::Image
    } else if m.contains("no such container") {
        ObjectKind::Container
    } else if m.contains("network") && m.contains("not found") {
        ObjectKind::Network
    } else if m.contains("no such volume") {
        ObjectKind::Volume
    } else if m.contains("no such exec") {
        ObjectKind::Exec
    } else {
        default
    }
}

/// Extracts the missing object's name from `No such image: busybox:latest`.
fn missing_name(message: &str, kind: ObjectKind, ctx: &Context<'_>) -> String {
    if kind == ctx.kind {
        return ctx.name.to_string();
    }
    message
        .rsplit_once(": ")
        .map(|(_, n)| n.trim().to_string())
        .unwrap_or_else(|| message.to_string())
}

fn is_port_conflict(message: &str) -> bool {
    message.contains("port is already allocated")
        || message.contains("address already in use")
        || message.contains("bind for")
}

pub(super) fn convert(err: BollardError, ctx: &Context<'_>) -> RuntimeError {
    if is_connection_failure(&err) {
        return unreachable(ctx.endpoint);
    }
    match err {
        BollardError::DockerResponseServerError {
            status_code,
            message,
        } => match status_code {
            404 => {
                let kind = missing_kind(&message, ctx.kind);
                RuntimeError::NotFound {
                    name: missing_name(&message, kind, ctx),
                    kind,
                }
            }
            409 | 403 => RuntimeError::Conflict {
                kind: ctx.kind,
                name: ctx.name.to_string(),
                message,
            },
            _ if is_port_conflict(&message) => RuntimeError::PortInUse {
                container: ctx.name.to_string(),
                message,
            },
            _ => other(ctx, message),
        },
        BollardError::RequestTimeoutError => other(
            ctx,
            "the engine did not answer in time; check `docker info` and retry".to_string(),
        ),
        other_err => other(ctx, other_err.to_string()),
    }
}

fn other(ctx: &Context<'_>, message: String) -> RuntimeError {
    RuntimeError::Other {
        operation: format!("{} {} \"{}\"", ctx.operation, ctx.kind, ctx.name),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Context<'static> {
        Context {
            endpoint: "unix:///var/run/docker.sock",
            operation: "create",
            kind: ObjectKind::Container,
            name: "web",
        }
    }

    #[test]
    fn missing_image_at_create_is_reported_as_image_not_found() {
        let err = BollardError::DockerResponseServerError {
            status_code: 404,
            message: "No such image: nope:latest".into(),
        };
        assert_eq!(
            convert(err, &ctx()),
            RuntimeError::NotFound {
                kind: ObjectKind::Image,
                name: "nope:latest".into()
            }
        );
    }

    #[test]
    fn allocated_port_is_port_in_use() {
        let err = BollardError::DockerResponseServerError {
            status_code: 500,
            message: "driver failed programming external connectivity: Bind for \
                      127.0.0.1:8080 failed: port is already allocated"
                .into(),
        };
        assert!(matches!(
            convert(err, &ctx()),
            RuntimeError::PortInUse { .. }
        ));
    }

    #[test]
    fn missing_socket_is_engine_unreachable_with_hint() {
        let err = BollardError::SocketNotFoundError("/nope.sock".into());
        let converted = convert(err, &ctx());
        assert!(converted.to_string().contains("--backend native"));
    }
}
