//! The files the start reads besides the config: the uplink's password, CA, client
//! certificate and key, the command signing key, and each site-broker connection's
//! password. `check` and `run` look at them the same way, so `check` passing means the
//! start finds them.
//!
//! A file that cannot be opened for reading is an error (the start refuses it); one the
//! service user (`sitewarden`, where that account exists and we run as root) could not
//! read is an error too; a secret readable by every user is a warning.

use crate::site::{ConnectionKind, Site};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

/// The account the packaged unit runs the daemon as.
const SERVICE_USER: &str = "sitewarden";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The key path, e.g. `uplink.password_file`, `connection.cams.password_file`.
    pub key: String,
    pub path: PathBuf,
    /// false: a warning.
    pub error: bool,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let level = if self.error { "error" } else { "warning" };
        write!(
            f,
            "{level}: {} {}: {}",
            self.key,
            self.path.display(),
            self.message
        )
    }
}

/// Every file the start reads, as (key path, path, is a secret).
fn files(site: &Site) -> Vec<(String, PathBuf, bool)> {
    let up = &site.uplink;
    let mut out = Vec::new();
    for (key, path, secret) in [
        ("password_file", &up.password_file, true),
        ("ca_file", &up.ca_file, false),
        ("client_cert", &up.client_cert, false),
        ("client_key", &up.client_key, true),
    ] {
        if let Some(p) = path {
            out.push((format!("uplink.{key}"), p.clone(), secret));
        }
    }
    if let Some(p) = &site.uplink.commands.key_file {
        out.push(("commands.key_file".to_string(), p.clone(), true));
    }
    if let Some(p) = site.http.as_ref().and_then(|h| h.password_file.as_ref()) {
        out.push(("http.password_file".to_string(), p.clone(), true));
    }
    for c in &site.connections {
        if let ConnectionKind::Mqtt {
            password_file: Some(p),
            ..
        } = &c.kind
        {
            out.push((
                format!("connection.{}.password_file", c.name),
                p.clone(),
                true,
            ));
        }
    }
    out
}

/// Whose access to the files is judged besides our own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    /// Only the process that asks (the start: it reads the files as itself).
    Myself,
    /// Also the `sitewarden` service user, when we are root and it exists (`check`,
    /// run by a technician as root for a service that runs as that user).
    ServiceUser,
}

/// Problems with the files `site` makes the start read; empty when all is well.
pub fn problems(site: &Site, judge: Judge) -> Vec<Problem> {
    let files = files(site);
    // Only `check` looks the user up: the lookup loads the system's NSS modules (0.3 MB
    // resident for the daemon's life), and the start answers for itself by opening.
    let service = match judge {
        Judge::ServiceUser if !files.is_empty() => service_user(),
        _ => None,
    };
    let mut out = Vec::new();
    for (key, path, secret) in files {
        let problem = |error: bool, message: String| Problem {
            key: key.clone(),
            path: path.clone(),
            error,
            message,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) => {
                out.push(problem(true, format!("cannot be read: {e}")));
                continue;
            }
        };
        // Opening a FIFO or a device would block or consume it (a password handed over
        // through a pipe is read once, by the start itself): only regular files are opened.
        if meta.is_file()
            && let Err(e) = std::fs::File::open(&path)
        {
            out.push(problem(true, format!("cannot be read: {e}")));
            continue;
        }
        // The signing key is refused by the start when it is too short: say so here too.
        if key == "commands.key_file"
            && meta.is_file()
            && let Err(e) = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| crate::uplink::command::sign::key_from_file(&t).map(|_| ()))
        {
            out.push(problem(true, e));
        }
        let mode = meta.mode() & 0o777;
        if let Some((uid, gid)) = service
            && !readable_by(&meta, uid, gid)
        {
            out.push(problem(
                true,
                format!(
                    "not readable by the service user {SERVICE_USER} (owner uid {}, group gid {}, mode {mode:04o})",
                    meta.uid(),
                    meta.gid()
                ),
            ));
        }
        if secret && mode & 0o004 != 0 {
            out.push(problem(
                false,
                format!("a secret readable by every user (mode {mode:04o}); chmod 0640 and chgrp {SERVICE_USER}"),
            ));
        }
    }
    out
}

/// The service user's (uid, gid) when it exists and differs from us while we are root
/// (otherwise opening the file as ourselves already answered the question).
fn service_user() -> Option<(u32, u32)> {
    // SAFETY: getuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let name = std::ffi::CString::new(SERVICE_USER).ok()?;
    // SAFETY: a valid NUL-terminated name; the result is read at once, before any other
    // call that could reuse its static buffer.
    let pw = unsafe { libc::getpwnam(name.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    let (uid, gid) = unsafe { ((*pw).pw_uid, (*pw).pw_gid) };
    (uid != 0).then_some((uid, gid))
}

/// Whether the mode bits grant `uid` (primary group `gid`) read access.
fn readable_by(meta: &std::fs::Metadata, uid: u32, gid: u32) -> bool {
    let mode = meta.mode();
    if meta.uid() == uid {
        mode & 0o400 != 0
    } else if meta.gid() == gid {
        mode & 0o040 != 0
    } else {
        mode & 0o004 != 0
    }
}
