//! Debian's `docker-registry` on loopback, for the tests that pull and push: anonymous,
//! behind HTTP basic auth (an htpasswd file), or behind the Docker token flow with a token
//! server of our own.
//!
//! Token mode is the flow Docker Hub and most registries use: the registry answers `401`
//! with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, the client asks the realm for
//! a token (with its Basic credentials, or anonymously), and retries with
//! `Authorization: Bearer <token>`. The token server here checks the credentials and signs
//! an RS256 JWT the registry verifies against a self-signed certificate (made with the
//! `openssl` CLI). It records every request it answers, and a recording proxy in front of
//! the registry keeps the request heads the registry got, so tests can assert who was sent
//! which credentials.
//!
//! Never skipped: a missing `/usr/bin/docker-registry` or `openssl` fails the test with what
//! to install.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hoist::runtime::native::digest::Digest;

use super::stack::free_port;

const REGISTRY_BINARY: &str = "/usr/bin/docker-registry";

/// The one account the htpasswd and token modes know.
pub const USER: &str = "hoist";
pub const PASSWORD: &str = "secret";

/// The identity token (OAuth2 refresh token) the token server takes for [`USER`], as a
/// credential helper answering `Username: "<token>"` hands it out.
pub const IDENTITY_TOKEN: &str = "hoist-identity-token";

/// The `service` the registry names in its challenges and the tokens' audience.
pub const TOKEN_SERVICE: &str = "hoist-test";
const TOKEN_ISSUER: &str = "hoist-test-issuer";

/// How the registry asks for credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    Anonymous,
    /// HTTP basic auth for [`USER`] / [`PASSWORD`].
    Htpasswd,
    /// Bearer tokens from our token server: [`USER`] / [`PASSWORD`] get what they ask for
    /// (pull, push); no credentials get pull when `anonymous_pull`, else nothing.
    Token {
        anonymous_pull: bool,
    },
}

/// A `docker-registry` on 127.0.0.1:`port` with its storage in a temp dir; it, its token
/// server and its proxy stop on drop.
pub struct Registry {
    /// Where clients reach it (the recording proxy in token mode).
    pub port: u16,
    child: Child,
    storage: PathBuf,
    log: PathBuf,
    token: Option<TokenServer>,
    proxy: Option<RecordingProxy>,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with(Auth::Anonymous)
    }

    pub fn start_with(auth: Auth) -> Registry {
        assert!(
            Path::new(REGISTRY_BINARY).exists(),
            "{REGISTRY_BINARY} is missing: install it with `apt-get install -y docker-registry`"
        );
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("storage");
        let log = dir.path().join("registry.log");
        let listen = free_port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
             http:\n  addr: 127.0.0.1:{listen}\n",
            storage.display()
        );
        let mut token = None;
        match auth {
            Auth::Anonymous => {}
            Auth::Htpasswd => {
                let file = dir.path().join("htpasswd");
                // bcrypt of PASSWORD.
                std::fs::write(
                    &file,
                    format!(
                        "{USER}:$2b$12$TTh9oq8r9NEBqqEIh/x2TOdrLDapGfetogd7/Er60d19IZ2IbTQ8K\n"
                    ),
                )
                .expect("write htpasswd");
                config.push_str(&format!(
                    "auth:\n  htpasswd:\n    realm: hoist-test\n    path: {}\n",
                    file.display()
                ));
            }
            Auth::Token { anonymous_pull } => {
                let server = TokenServer::start(dir.path(), anonymous_pull);
                config.push_str(&format!(
                    "auth:\n  token:\n    realm: {}\n    service: {TOKEN_SERVICE}\n    \
                     issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
                    server.realm(),
                    server.cert.display()
                ));
                token = Some(server);
            }
        }
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).expect("write registry config");
        let log_file = std::fs::File::create(&log).expect("registry log file");
        let child = Command::new(REGISTRY_BINARY)
            .arg("serve")
            .arg(&config_file)
            .stdout(log_file.try_clone().expect("registry log file"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {REGISTRY_BINARY}: {e}"));
        // Token mode: clients talk to the registry through the proxy, which notes what
        // they sent.
        let proxy = token.is_some().then(|| RecordingProxy::start(listen));
        let mut registry = Registry {
            port: proxy.as_ref().map_or(listen, |p| p.port),
            child,
            storage,
            log,
            token,
            proxy,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", listen)).is_err() {
            if let Ok(Some(status)) = registry.child.try_wait() {
                panic!("docker-registry exited ({status}):\n{}", registry.log());
            }
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on {listen}:\n{}",
                registry.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `127.0.0.1:<port>`, the registry part of an image reference.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// What the registry logged so far (put it in assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The registry's own copy of a blob, to tamper with.
    pub fn blob_data(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The requests the token server answered, in order (token mode).
    pub fn token_requests(&self) -> Vec<TokenRequest> {
        let server = self.token.as_ref().expect("a registry in token mode");
        server.requests.lock().unwrap().clone()
    }

    /// The heads of the requests the registry got (request line and headers, lower-cased
    /// header names), in order (token mode).
    pub fn registry_requests(&self) -> Vec<String> {
        let proxy = self.proxy.as_ref().expect("a registry in token mode");
        request_heads(&proxy.received.lock().unwrap())
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request to the token server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// Every `scope` asked for, its actions sorted (`repository:<name>:pull,push`): the
    /// registry names them in any order.
    pub scopes: Vec<String>,
    pub service: Option<String>,
    /// The Basic credentials sent, if any.
    pub credentials: Option<(String, String)>,
    /// The refresh token of an OAuth2 `POST` (`grant_type=refresh_token`), if that was one.
    pub refresh_token: Option<String>,
    /// The status answered: 200 with a token, 401 for wrong credentials.
    pub status: u16,
    /// The `access` claim of the token issued, as scopes with sorted actions.
    pub granted: Vec<String>,
}

/// A token server on 127.0.0.1: checks Basic credentials, issues RS256 JWTs signed with a
/// key whose self-signed certificate is the registry's `rootcertbundle`.
struct TokenServer {
    port: u16,
    cert: PathBuf,
    requests: Arc<Mutex<Vec<TokenRequest>>>,
    stop: Arc<AtomicBool>,
}

impl TokenServer {
    fn start(dir: &Path, anonymous_pull: bool) -> TokenServer {
        let key = dir.join("token-key.pem");
        let cert = dir.join("token-cert.pem");
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=hoist-test-token",
            "-keyout",
            &key.to_string_lossy(),
            "-out",
            &cert.to_string_lossy(),
        ]);
        let der = openssl(&["x509", "-in", &cert.to_string_lossy(), "-outform", "DER"]);
        let signer = Arc::new(Signer {
            key,
            x5c: base64::engine::general_purpose::STANDARD.encode(der),
            anonymous_pull,
        });
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token server");
        let port = listener.local_addr().expect("token server address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let (signer, log) = (signer.clone(), log.clone());
                    std::thread::spawn(move || signer.answer(stream, &log));
                }
            }
        });
        TokenServer {
            port,
            cert,
            requests,
            stop,
        }
    }

    fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }
}

impl Drop for TokenServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Runs the `openssl` CLI; returns its stdout.
fn openssl(args: &[&str]) -> Vec<u8> {
    openssl_with_input(args, None)
}

fn openssl_with_input(args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("the token-auth tests need the openssl CLI ({e}): apt-get install -y openssl")
        });
    let mut stdin = child.stdin.take().expect("openssl stdin");
    if let Some(input) = input {
        stdin.write_all(input).expect("write to openssl");
    }
    drop(stdin);
    let out = child.wait_with_output().expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

struct Signer {
    key: PathBuf,
    /// The certificate, DER in standard base64, as the JWT header's `x5c` wants it.
    x5c: String,
    anonymous_pull: bool,
}

impl Signer {
    /// Answers one `GET /token?scope=…&service=…` (Basic credentials or none), or one OAuth2
    /// `POST /token` of a refresh token (Docker's identity tokens), and notes it in `log`.
    fn answer(&self, mut stream: TcpStream, log: &Mutex<Vec<TokenRequest>>) {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
        let mut head = Vec::new();
        let mut buf = [0u8; 4096];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let head_end = head
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(head.len(), |i| i + 4);
        let mut body = head[head_end..].to_vec();
        let head = String::from_utf8_lossy(&head[..head_end]).into_owned();
        let target = head.split_whitespace().nth(1).unwrap_or("");
        // Docker's OAuth2 flow POSTs a form; the classic one is a GET with a query.
        let post = head.starts_with("POST ");
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .unwrap_or(0);
        while post && body.len() < length {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => body.extend_from_slice(&buf[..n]),
            }
        }
        let form = String::from_utf8_lossy(&body).into_owned();
        let query = if post {
            form.as_str()
        } else {
            target.split_once('?').map_or("", |(_, q)| q)
        };
        let mut scopes = Vec::new();
        let mut service = None;
        let mut refresh_token = None;
        for (key, value) in query.split('&').filter_map(|p| p.split_once('=')) {
            let value = percent_decode(value);
            match key {
                "scope" => scopes.extend(value.split(' ').map(sorted_actions)),
                "service" => service = Some(value),
                "refresh_token" if post => refresh_token = Some(value),
                _ => {}
            }
        }
        let credentials = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            if !name.eq_ignore_ascii_case("authorization") {
                return None;
            }
            let encoded = value.trim().strip_prefix("Basic ")?;
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .ok()?;
            let (user, password) = String::from_utf8(decoded)
                .ok()?
                .split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))?;
            Some((user, password))
        });
        let authenticated = match (&credentials, &refresh_token) {
            (_, Some(token)) if token == IDENTITY_TOKEN => true,
            (Some((user, password)), None) if user == USER && password == PASSWORD => true,
            (Some(_), _) | (None, Some(_)) => {
                log.lock().unwrap().push(TokenRequest {
                    scopes,
                    service,
                    credentials,
                    refresh_token,
                    status: 401,
                    granted: Vec::new(),
                });
                let body = r#"{"details":"incorrect username or password"}"#;
                let _ = write!(
                    stream,
                    "HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\n\
                     WWW-Authenticate: Basic realm=\"hoist-test-token\"\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                return;
            }
            (None, None) => false,
        };
        // Exactly what was asked for, of what this account may do.
        let allowed: &[&str] = if authenticated {
            &["pull", "push"]
        } else if self.anonymous_pull {
            &["pull"]
        } else {
            &[]
        };
        let mut access = Vec::new();
        let mut granted = Vec::new();
        for scope in &scopes {
            let Some((resource, actions)) = scope.rsplit_once(':') else {
                continue;
            };
            let Some((kind, name)) = resource.split_once(':') else {
                continue;
            };
            let actions: Vec<&str> = actions.split(',').filter(|a| allowed.contains(a)).collect();
            if kind != "repository" || actions.is_empty() {
                continue;
            }
            granted.push(format!("{kind}:{name}:{}", actions.join(",")));
            access.push(serde_json::json!({"type": kind, "name": name, "actions": actions}));
        }
        let subject = if refresh_token.is_some() {
            USER
        } else {
            credentials.as_ref().map_or("", |(u, _)| u.as_str())
        };
        let token = self.sign(subject, service.as_deref().unwrap_or(""), access);
        log.lock().unwrap().push(TokenRequest {
            scopes,
            service,
            credentials,
            refresh_token,
            status: 200,
            granted,
        });
        let body = serde_json::json!({"token": token, "access_token": token, "expires_in": 300})
            .to_string();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
    }

    /// A JWT as docker/distribution's token auth verifies it: RS256, the signing
    /// certificate in `x5c`, `aud` the service, `access` the granted resource actions.
    fn sign(&self, subject: &str, service: &str, access: Vec<serde_json::Value>) -> String {
        static JTI: AtomicU64 = AtomicU64::new(0);
        let b64 = |data: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]});
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER,
            "sub": subject,
            "aud": service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": format!("{}-{}", std::process::id(), JTI.fetch_add(1, Ordering::Relaxed)),
            "access": access,
        });
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = openssl_with_input(
            &["dgst", "-sha256", "-sign", &self.key.to_string_lossy()],
            Some(signed.as_bytes()),
        );
        format!("{signed}.{}", b64(&signature))
    }
}

/// `type:name:b,a` as `type:name:a,b`.
fn sorted_actions(scope: &str) -> String {
    match scope.rsplit_once(':') {
        Some((resource, actions)) => {
            let mut actions: Vec<&str> = actions.split(',').collect();
            actions.sort_unstable();
            format!("{resource}:{}", actions.join(","))
        }
        None => scope.to_string(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A TCP proxy on 127.0.0.1 in front of the registry that keeps every byte clients sent.
struct RecordingProxy {
    port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
}

impl RecordingProxy {
    fn start(upstream: u16) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the registry proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, stopped) = (received.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let log = log.clone();
                std::thread::spawn(move || relay(client, server, &log));
            }
        });
        RecordingProxy {
            port,
            received,
            stop,
        }
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Copies `client` to `server` (noting the bytes in `log`) and back, until either closes.
fn relay(mut client: TcpStream, mut server: TcpStream, log: &Mutex<Vec<u8>>) {
    let (Ok(mut client_back), Ok(mut server_back)) = (client.try_clone(), server.try_clone())
    else {
        return;
    };
    let back = std::thread::spawn(move || {
        let _ = std::io::copy(&mut server_back, &mut client_back);
        let _ = client_back.shutdown(std::net::Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match client.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if server.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = server.shutdown(std::net::Shutdown::Write);
    let _ = back.join();
}

/// The request heads in a recorded client byte stream: each `METHOD /path HTTP/1.1` line
/// with the headers up to the blank line (bodies in between are skipped).
fn request_heads(stream: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(stream);
    let mut heads = Vec::new();
    let mut rest: &str = &text;
    while let Some(at) = rest.find(" HTTP/1.1\r\n") {
        let start = rest[..at].rfind('\n').map_or(0, |i| i + 1);
        let end = rest[at..].find("\r\n\r\n").map_or(rest.len(), |i| at + i);
        let head = rest[start..end]
            .lines()
            .enumerate()
            .map(|(i, line)| match line.split_once(':') {
                Some((name, value)) if i > 0 => {
                    format!("{}:{value}", name.to_ascii_lowercase())
                }
                _ => line.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n");
        heads.push(head);
        rest = &rest[end..];
    }
    heads
}
