//! The opt-in HTTP endpoints (`[http] listen`): `/` the status page, `/metrics` for
//! Prometheus, `/healthz` for load balancers and probes. Read-only; absent from the
//! config, nothing here runs and no socket is opened.
//!
//! A small HTTP/1.1 responder of our own on the daemon's runtime rather than a server
//! crate (see ARCHITECTURE.md): GET and HEAD, one request per connection
//! (`Connection: close`), a head of at most 8 KiB read within 5 s, at most 16 connections
//! at once. Each answer is one status snapshot (`status::socket::gather`), the same
//! read the status socket makes, so a scrape every 15 s costs one outbox read
//! and a few kilobytes of text.
//!
//! - `request.rs`: the request head; `auth.rs`: Basic auth against a salted hash;
//! - `page.rs`: the HTML page; `metrics.rs`: the Prometheus text; `procstat.rs`: RSS and
//!   CPU from `/proc/self`.

pub mod auth;
#[cfg(test)]
pub(crate) mod fixture;
pub mod metrics;
pub mod page;
pub mod procstat;
pub mod request;

use crate::status::socket::{Context as StatusContext, gather};
use auth::Credentials;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

const MAX_HEAD: usize = 8 << 10;
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CONNECTIONS: usize = 16;

/// What the endpoints answer from.
#[derive(Clone)]
pub struct Context {
    pub status: StatusContext,
    /// Basic auth; None: every request is answered.
    pub credentials: Option<Arc<Credentials>>,
}

/// Is `listen` reachable only from this machine?
pub fn is_loopback(listen: &std::net::SocketAddr) -> bool {
    listen.ip().is_loopback()
}

/// The endpoints, bound but not yet serving.
pub struct Bound {
    listener: TcpListener,
    credentials: Option<Arc<Credentials>>,
}

/// When `[http]` is configured: loads the credentials (a bad password file refuses the
/// start, so the page is never served open by mistake) and binds. Called before the
/// stages start, so a refusal leaves nothing running. Without `[http]`: None, and
/// nothing at all is done.
pub async fn bind(site: &crate::site::Site) -> anyhow::Result<Option<Bound>> {
    use anyhow::Context as _;
    let Some(http) = &site.http else {
        return Ok(None);
    };
    let credentials = match &http.password_file {
        Some(p) => Some(Arc::new(Credentials::load(p).map_err(|e| {
            anyhow::anyhow!("http.password_file {}: {e}", p.display())
        })?)),
        None => None,
    };
    if credentials.is_none() && !is_loopback(&http.listen) {
        tracing::warn!(listen = %http.listen, "http: {}", crate::config::HTTP_OPEN_WARNING);
    }
    let listener = TcpListener::bind(http.listen)
        .await
        .with_context(|| format!("http.listen {}: cannot listen", http.listen))?;
    tracing::info!(listen = %http.listen, auth = credentials.is_some(), "http: serving /, /metrics, /healthz");
    Ok(Some(Bound {
        listener,
        credentials,
    }))
}

impl Bound {
    /// Serves on the runtime until `stop`.
    pub fn spawn(
        self,
        status: StatusContext,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let ctx = Context {
            status,
            credentials: self.credentials,
        };
        tokio::spawn(serve(self.listener, ctx, stop))
    }
}

/// Serves until `stop`.
pub async fn serve(listener: TcpListener, ctx: Context, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    // Over the bound the connection is closed at once: a scraper retries.
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        continue;
                    };
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        answer(stream, &ctx).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "http: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop.cancelled() => break,
        }
    }
}

/// An answer: status, content type, extra header lines, body.
struct Response {
    status: u16,
    content_type: &'static str,
    extra: &'static str,
    body: String,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            extra: "",
            body: body.into(),
        }
    }
}

async fn answer(mut stream: TcpStream, ctx: &Context) {
    let (response, head_only) = match read_head(&mut stream).await {
        Ok(buf) => match request::parse(&buf) {
            Ok(req) => (route(&req, ctx).await, req.head),
            Err(status) => (Response::text(status, reason(status)), false),
        },
        Err(status) => (Response::text(status, reason(status)), false),
    };
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         Connection: close\r\n{}\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        response.extra
    );
    let write = async {
        stream.write_all(head.as_bytes()).await?;
        if !head_only {
            stream.write_all(response.body.as_bytes()).await?;
        }
        stream.shutdown().await
    };
    if let Err(e) = tokio::time::timeout(WRITE_TIMEOUT, write)
        .await
        .unwrap_or_else(|_| {
            Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "write timed out",
            ))
        })
    {
        tracing::debug!(error = %e, "http: client left early");
    }
}

/// The request head; Err: 408 (too slow), 431 (too big) or 400 (closed early).
async fn read_head(stream: &mut TcpStream) -> Result<Vec<u8>, u16> {
    let mut buf = Vec::with_capacity(1024);
    let read = async {
        let mut chunk = [0u8; 1024];
        loop {
            let n = stream.read(&mut chunk).await.map_err(|_| 400u16)?;
            if n == 0 {
                return Err(400);
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = request::head_end(&buf) {
                buf.truncate(end);
                return Ok(());
            }
            if buf.len() > MAX_HEAD {
                return Err(431);
            }
        }
    };
    match tokio::time::timeout(HEAD_TIMEOUT, read).await {
        Ok(Ok(())) => Ok(buf),
        Ok(Err(status)) => Err(status),
        Err(_) => Err(408),
    }
}

async fn route(req: &request::Request, ctx: &Context) -> Response {
    if let Some(c) = &ctx.credentials
        && !c.allows(req.authorization.as_deref())
    {
        return Response {
            extra: "WWW-Authenticate: Basic realm=\"sitewarden\", charset=\"UTF-8\"\r\n",
            ..Response::text(
                401,
                "401 unauthorized: this gateway's page needs a password\n",
            )
        };
    }
    if !matches!(req.path.as_str(), "/" | "/metrics" | "/healthz") {
        return Response::text(404, "not found; try /, /metrics or /healthz\n");
    }
    let (snapshot, stats) = match gather(&ctx.status).await {
        Ok(g) => g,
        Err(e) => return Response::text(500, format!("cannot read the daemon's state: {e}\n")),
    };
    match req.path.as_str() {
        "/" => Response {
            content_type: "text/html; charset=utf-8",
            ..Response::text(200, page::render(&snapshot))
        },
        "/metrics" => {
            let (rss_bytes, cpu_seconds) = procstat::read();
            let body = metrics::render(&metrics::Inputs {
                snapshot: &snapshot,
                health: &ctx.status.health,
                outbox: &stats,
                rss_bytes,
                cpu_seconds,
                started_ms: ctx.status.started_ms,
            });
            Response {
                content_type: "text/plain; version=0.0.4; charset=utf-8",
                ..Response::text(200, body)
            }
        }
        _ => healthz(&snapshot),
    }
}

/// 200 `ok`, or 503 with the verdict and its reasons: the verdict `status` exits by.
fn healthz(s: &crate::status::Snapshot) -> Response {
    if s.exit_code() == 0 {
        return Response::text(200, "ok\n");
    }
    Response::text(503, format!("{}: {}\n", s.verdict, s.reasons.join("; ")))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}
