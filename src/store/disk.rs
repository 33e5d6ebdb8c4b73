//! Files beside the outbox: free-space checks, the ballast, the seq floor and moving a
//! damaged file aside.
//!
//! Plain file operations. Every write that must survive a power
//! cut is written to a temporary name, synced, renamed and its directory synced.

use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Most space kept in reserve in the data directory, given back to the outbox on ENOSPC
/// so it can write the frame that sheds old records and the alarms that follow.
pub(crate) const BALLAST_MAX: u64 = 2 << 20;
/// Least ballast, however small the filesystem: a few commits' worth of pages.
pub(crate) const BALLAST_MIN: u64 = 64 << 10;

/// Bytes the filesystem of `dir` still grants to an unprivileged writer.
pub(crate) fn free_bytes(dir: &Path) -> io::Result<u64> {
    Ok(space(dir)?.0)
}

/// (free for an unprivileged writer, total size) of the filesystem of `dir`.
pub(crate) fn space(dir: &Path) -> io::Result<(u64, u64)> {
    let c = CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated path and `st` a properly sized out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let frsize = st.f_frsize as u64;
    Ok((
        (st.f_bavail as u64).saturating_mul(frsize),
        (st.f_blocks as u64).saturating_mul(frsize),
    ))
}

/// The ballast for a filesystem of `total` bytes: 1/16 of it, within
/// `BALLAST_MIN..=BALLAST_MAX`, in whole 4 KiB pages (4 MiB: 256 KiB; 32 MiB and up: 2 MiB).
pub(crate) fn ballast_bytes(total: u64) -> u64 {
    (total / 16).clamp(BALLAST_MIN, BALLAST_MAX) / 4096 * 4096
}

/// Free space below which the outbox stops growing on a filesystem of `total` bytes:
/// `low_water`, or a quarter of a small filesystem.
pub(crate) fn low_water(total: u64, low_water: u64) -> u64 {
    low_water.min(total / 4)
}

/// Creates the ballast file, sized for its filesystem, if it is missing and the disk can
/// spare it with `keep_free` (scaled down on a small filesystem) still free afterwards.
/// Allocates its blocks without writing them where the filesystem can (no flash wear); a
/// failed attempt leaves no partial file.
pub(crate) fn ensure_ballast(path: &Path, keep_free: u64) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let (free, total) = space(dir)?;
    let size = ballast_bytes(total);
    if fs::metadata(path).is_ok_and(|m| m.len() >= size) {
        return Ok(());
    }
    if free < size + low_water(total, keep_free) {
        return Ok(());
    }
    let made = allocate(path, size);
    if made.is_err() {
        fs::remove_file(path).ok();
    }
    made
}

fn allocate(path: &Path, size: u64) -> io::Result<()> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    // SAFETY: a valid open descriptor and a non-negative range.
    let rc = unsafe {
        libc::posix_fallocate(std::os::fd::AsRawFd::as_raw_fd(&f), 0, size as libc::off_t)
    };
    match rc {
        0 => {}
        libc::EOPNOTSUPP | libc::EINVAL => {
            // No fallocate on this filesystem: write the zeros instead.
            let zeros = vec![0u8; 64 << 10];
            let mut f = &f;
            for _ in 0..size.div_ceil(zeros.len() as u64) {
                f.write_all(&zeros)?;
            }
        }
        e => return Err(io::Error::from_raw_os_error(e)),
    }
    f.sync_all()
}

/// Deletes the ballast; true if there was one to give back.
pub(crate) fn release_ballast(path: &Path) -> bool {
    fs::remove_file(path).is_ok()
}

/// ENOSPC, whichever way it is reported.
pub(crate) fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(libc::ENOSPC)
}

pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically and durably.
fn write_durably(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Reads the seq floor: every seq ever committed is below it. 0 when absent or unreadable
/// (a fresh data directory).
pub(crate) fn read_floor(path: &Path) -> u64 {
    let Ok(b) = fs::read(path) else {
        return 0;
    };
    if b.len() != 12 {
        return 0;
    }
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[..8]);
    let crc = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
    if crc32fast::hash(&v) != crc {
        return 0;
    }
    u64::from_le_bytes(v)
}

pub(crate) fn write_floor(path: &Path, floor: u64) -> io::Result<()> {
    write_durably(path, &floor_bytes(floor))
}

/// The floor file's bytes: the floor (u64 LE) and its CRC-32 (u32 LE).
pub(crate) fn floor_bytes(floor: u64) -> Vec<u8> {
    let v = floor.to_le_bytes();
    let mut b = v.to_vec();
    b.extend_from_slice(&crc32fast::hash(&v).to_le_bytes());
    b
}

/// Renames `path` to `<path>.corrupt-<unix seconds>` (plus `-N` if taken) and syncs the
/// directory; returns the new name.
pub(crate) fn quarantine(path: &Path, unix_secs: i64) -> io::Result<PathBuf> {
    let base = format!("{}.corrupt-{unix_secs}", path.display());
    let mut target = PathBuf::from(&base);
    let mut n = 1;
    while target.exists() {
        target = PathBuf::from(format!("{base}-{n}"));
        n += 1;
    }
    fs::rename(path, &target)?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))?;
    Ok(target)
}
