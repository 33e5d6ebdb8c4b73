//! The status socket: `<data_dir>/status.sock`, mode 0660 (the service's group may ask).
//!
//! One request per connection: a line naming what is asked (`status`, or `probe {json}`
//! for reads through the daemon, see `probe.rs`), answered with one JSON document, then
//! the connection closes. The daemon serves it on its runtime; each
//! answer is one copy of the live state and one outbox read.

use super::snapshot;
use crate::health::Health;
use crate::site::Site;
use crate::store::{Outbox, OutboxStats};
use anyhow::Context as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// A request line longer than this is refused.
const MAX_REQUEST: u64 = 4096;
/// A client gets this long to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// What an answer is made from.
#[derive(Clone)]
pub struct Context {
    /// The running configuration (replaced on reload).
    pub site: watch::Receiver<Arc<Site>>,
    pub health: Arc<Health>,
    pub outbox: Arc<Outbox>,
    pub started_ms: crate::reading::Ms,
    /// The connection tasks, for `probe` through the daemon.
    pub routes: super::probe::Routes,
}

/// Binds the socket (replacing a stale one left by a killed daemon), mode 0660.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
    }
    let l = UnixListener::bind(path)
        .with_context(|| format!("binding the status socket {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    Ok(l)
}

/// Serves until `stop`, then removes the socket file.
pub async fn serve(listener: UnixListener, path: PathBuf, ctx: Context, stop: CancellationToken) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, _)) => {
                    tokio::spawn(answer(stream, ctx.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "status socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = stop.cancelled() => break,
        }
    }
    std::fs::remove_file(&path).ok();
}

async fn answer(stream: UnixStream, ctx: Context) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read).take(MAX_REQUEST);
    let got = tokio::time::timeout(REQUEST_TIMEOUT, reader.read_line(&mut line)).await;
    let body = match got {
        Ok(Ok(_)) => respond(line.trim(), &ctx).await,
        Ok(Err(e)) => error(&format!("cannot read the request: {e}")),
        Err(_) => error("no request within 2 s"),
    };
    if let Err(e) = write.write_all(body.as_bytes()).await {
        tracing::debug!(error = %e, "status socket: client left early");
    }
    write.shutdown().await.ok();
}

async fn respond(request: &str, ctx: &Context) -> String {
    match request {
        "status" => match snapshot_of(ctx).await {
            Ok(s) => serde_json::to_string(&s).unwrap_or_else(|e| error(&e.to_string())),
            Err(e) => error(&e),
        },
        other => match other.strip_prefix("probe ") {
            Some(json) => {
                let site = Arc::clone(&ctx.site.borrow());
                match super::probe::serve(json, &site, &ctx.routes).await {
                    Ok(r) => serde_json::to_string(&r).unwrap_or_else(|e| error(&e.to_string())),
                    Err(e) => error(&e),
                }
            }
            None => error(&format!("unknown request `{other}` (known: status, probe)")),
        },
    }
}

/// The current snapshot (the outbox is read on a blocking thread).
pub async fn snapshot_of(ctx: &Context) -> Result<snapshot::Snapshot, String> {
    gather(ctx).await.map(|(s, _)| s)
}

/// The current snapshot and the outbox stats it was built from.
pub async fn gather(ctx: &Context) -> Result<(snapshot::Snapshot, OutboxStats), String> {
    let site = Arc::clone(&ctx.site.borrow());
    let outbox = Arc::clone(&ctx.outbox);
    let stats = tokio::task::spawn_blocking(move || outbox.stats())
        .await
        .map_err(|e| e.to_string())?
        .unwrap_or_default();
    let now = crate::clock::now_ms();
    let s = snapshot::build(&site, &ctx.health, &stats, ctx.started_ms, now);
    Ok((s, stats))
}

fn error(text: &str) -> String {
    serde_json::json!({ "error": text }).to_string()
}
