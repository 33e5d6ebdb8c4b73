//! Reading the raw ring from outside the daemon (`sitewarden history`), while it runs.
//!
//! Read-only and lock-free: the segment files are listed once, each opened read-only and
//! read up to the length it had when opened. What the daemon writes meanwhile is either
//! past that length or a frame not yet whole, which fails its length or CRC check and
//! ends the walk of that segment quietly (the torn tail of a killed daemon reads the same
//! way). A segment the daemon deletes between the listing and the read (the ring's bound)
//! is skipped. Nothing is repaired: the daemon's own open does that.

use super::segment::{ignore_not_found, parse_segment_name, read_seal, replay_segment};
use crate::reading::{Ms, Sample};
use crate::site::Site;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

/// Calls `f` with every durable sample whose `ts` lies in `since..=until`, in the order
/// the daemon wrote them, mapped to `site` by device id and point name (see
/// `RawRing::replay_since`). A missing ring directory holds no samples.
pub fn read_window(
    dir: &Path,
    site: &Site,
    since: Ms,
    until: Ms,
    mut f: impl FnMut(Sample),
) -> io::Result<()> {
    for path in segment_paths(dir)? {
        let result = read_segment(&path, site, since, until, &mut f);
        result.or_else(ignore_not_found)?;
    }
    Ok(())
}

fn read_segment(
    path: &Path,
    site: &Site,
    since: Ms,
    until: Ms,
    f: &mut impl FnMut(Sample),
) -> io::Result<()> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    // A sealed segment says which times it holds: skip it without decoding.
    if let Some(seal) = read_seal(&file, len)
        && (seal.samples == 0 || seal.last_ts < since || seal.first_ts > until)
    {
        return Ok(());
    }
    replay_segment(path, len, site, since, &mut |s: Sample| {
        if s.ts <= until {
            f(s);
        }
    })
}

/// The ring's segment files, oldest first.
fn segment_paths(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let name = entry?.file_name();
        if let Some(id) = name.to_str().and_then(parse_segment_name) {
            found.push((id, dir.join(name)));
        }
    }
    found.sort_unstable();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}
