//! The daemon's own resident code: once start-up is over, the pages of our executable
//! that only start-up ran are unmapped, and only the pages the steady state runs come
//! back, one page at a time.
//!
//! Why: the kernel maps a file page's cached neighbours with it (fault-around, 64 KiB)
//! and reads 128 KiB around a page it has to read (read-around). So the parsing of the
//! command line and the config, the store's open and repair, TLS set-up and the first
//! connects leave nearly all of the binary's text and read-only data mapped for the life
//! of the process, although the steady state runs a fraction of it.
//!
//! How, without privileges (the service user owns neither the binary nor any capability,
//! so `MADV_PAGEOUT`, which the kernel only lets a file's owner or writer use on its
//! pages, would do nothing under systemd):
//! 1. `MADV_RANDOM` on each clean read-only mapping of our executable: a page faulted
//!    in later is read alone, without read-around;
//! 2. `MADV_DONTNEED` on it: our page tables forget those pages (they are clean copies
//!    of the file, so nothing is lost; they fault back in from it);
//! 3. `POSIX_FADV_DONTNEED` on the executable: the page cache lets go of the pages no
//!    process maps any more, so fault-around has no cached neighbours to map.
//!
//! The steady state then faults its pages back in, each once, within a second.
//! A mapping with any anonymous page is never advised: that is the sealed RELRO, whose
//! pages the dynamic loader relocated (forgetting them would read unrelocated bytes back
//! from the file). Pages another process maps (`sitewarden status` at that moment) stay.
//!
//! Linux only; where an advice is refused (an old kernel, a seccomp filter) nothing
//! changes.

use std::time::Duration;

/// How long after a start or a reload the start-up code is let go: past the first
/// connects, the first window close and the first outbox commits, so what the steady
/// state runs once a minute has run at least once.
pub const AFTER_START: Duration = Duration::from_secs(90);

/// One mapping of the executable: its start address and length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub start: usize,
    pub len: usize,
}

/// The mappings of the file with inode `inode` in a `/proc/<pid>/smaps` text that are
/// read-only and hold no anonymous page: text and read-only data, never the RELRO (its
/// relocated pages are anonymous copies) nor writable data.
pub fn clean_read_only(smaps: &str, inode: u64) -> Vec<Mapping> {
    let mut out = Vec::new();
    // The mapping whose fields are being read, if it is one of ours and read-only.
    let mut current: Option<Mapping> = None;
    for line in smaps.lines() {
        if let Some(m) = mapping_header(line) {
            current = m.filter(|&(_, ino)| ino == inode).map(|(m, _)| m);
        } else if let Some(kb) = line.strip_prefix("Anonymous:") {
            let clean = kb.trim().strip_suffix("kB").map(str::trim) == Some("0");
            if let Some(m) = current.take().filter(|_| clean) {
                out.push(m);
            }
        }
    }
    out
}

/// A header line ("start-end perms offset dev inode path"): `Some(None)` for a mapping
/// that is writable (or unparsable), `Some(Some(..))` for a read-only one, `None` for a
/// field line.
fn mapping_header(line: &str) -> Option<Option<(Mapping, u64)>> {
    let mut f = line.split_ascii_whitespace();
    let range = f.next()?;
    let (a, b) = range.split_once('-')?;
    let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
        return None;
    };
    let perms = f.next().unwrap_or("");
    let inode = f.nth(2).and_then(|i| i.parse::<u64>().ok());
    let read_only = perms.as_bytes().get(1) == Some(&b'-');
    Some(inode.filter(|_| read_only && end > start).map(|ino| {
        (
            Mapping {
                start,
                len: end - start,
            },
            ino,
        )
    }))
}

/// Lets go of the pages of our own executable (see the module doc); returns the bytes
/// of mappings advised (0 off Linux or when nothing could be read).
pub fn release_own_code() -> usize {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt as _;
        use std::os::unix::io::AsRawFd as _;
        let Ok(exe) = std::fs::File::open("/proc/self/exe") else {
            return 0;
        };
        let Ok(inode) = exe.metadata().map(|m| m.ino()) else {
            return 0;
        };
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return 0;
        };
        let mut advised = 0;
        for m in clean_read_only(&smaps, inode) {
            let addr = m.start as *mut libc::c_void;
            // SAFETY: the range is one of our own file mappings, read-only and without an
            // anonymous page as the kernel just listed it, and nothing in the daemon
            // remaps or writes it: every page is a clean copy of the file, which
            // MADV_DONTNEED only unmaps (the next access reads the same bytes back).
            // MADV_RANDOM only changes read-ahead.
            unsafe {
                libc::madvise(addr, m.len, libc::MADV_RANDOM);
                if libc::madvise(addr, m.len, libc::MADV_DONTNEED) == 0 {
                    advised += m.len;
                }
            }
        }
        // SAFETY: fadvise only drops unmapped clean page-cache pages of the file.
        unsafe {
            libc::posix_fadvise(exe.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
        }
        advised
    }
    #[cfg(not(target_os = "linux"))]
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55f8a028f000-55f8a03fb000 r--p 00000000 fd:01 1234 /usr/bin/sitewarden
Rss:                 320 kB
Anonymous:             0 kB
VmFlags: rd mr mw me
55f8a03fb000-55f8a06c3000 r-xp 0016c000 fd:01 1234 /usr/bin/sitewarden
Rss:                2532 kB
Anonymous:             0 kB
55f8a06c3000-55f8a06ea000 r--p 00434000 fd:01 1234 /usr/bin/sitewarden
Rss:                 152 kB
Anonymous:           152 kB
55f8a06ea000-55f8a06ed000 rw-p 0045b000 fd:01 1234 /usr/bin/sitewarden
Anonymous:            12 kB
55f8a06ed000-55f8a06ef000 rw-p 0045e000 fd:01 1234 /usr/bin/sitewarden
Anonymous:             0 kB
55f8a1000000-55f8a1300000 rw-p 00000000 00:00 0 [heap]
Anonymous:          2904 kB
7f0000000000-7f0000100000 r-xp 00028000 fd:01 999 /usr/lib/x86_64-linux-gnu/libc.so.6
Anonymous:             0 kB
";

    #[test]
    fn only_our_clean_read_only_mappings_are_chosen() {
        let text = Mapping {
            start: 0x55f8a03fb000,
            len: 0x2c8000,
        };
        let rodata = Mapping {
            start: 0x55f8a028f000,
            len: 0x16c000,
        };
        // Not the RELRO (anonymous pages), not writable data, not libc, not the heap.
        assert_eq!(clean_read_only(SMAPS, 1234), vec![rodata, text]);
        assert!(clean_read_only(SMAPS, 4321).is_empty());
        assert_eq!(clean_read_only(SMAPS, 999).len(), 1);
    }

    #[test]
    fn a_mapping_without_its_anonymous_line_is_not_chosen() {
        let cut = "55f8a03fb000-55f8a06c3000 r-xp 0016c000 fd:01 1234 /x\nRss: 4 kB\n\
                   55f8a06c3000-55f8a06ea000 rw-p 0 fd:01 1234 /x\nAnonymous: 0 kB\n";
        assert!(clean_read_only(cut, 1234).is_empty());
        assert!(clean_read_only("garbage\n\n1-2 r-xp\nAnonymous: 0 kB\n", 1234).is_empty());
    }

    /// Rss of the test binary's executable mapping, from our own smaps.
    fn own_text_rss_kb() -> u64 {
        use std::os::unix::fs::MetadataExt as _;
        let inode = std::fs::metadata("/proc/self/exe").expect("exe").ino();
        let smaps = std::fs::read_to_string("/proc/self/smaps").expect("smaps");
        let mut in_text = false;
        let mut total = 0;
        for line in smaps.lines() {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if let Some(Some((_, ino))) = mapping_header(line) {
                in_text = f[1] == "r-xp" && ino == inode;
            } else if in_text && f.first() == Some(&"Rss:") {
                total += f[1].parse::<u64>().expect("Rss kB");
            }
        }
        total
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn releasing_lowers_the_resident_text_and_the_code_still_runs() {
        let before = own_text_rss_kb();
        let advised = release_own_code();
        let after = own_text_rss_kb();
        assert!(advised > 0, "nothing advised");
        // What this test runs after the advice faults back in, page by page; the rest
        // of the test binary's text (megabytes in a debug build) stays out.
        assert!(
            after + 256 < before,
            "text Rss {before} kB before, {after} kB after"
        );
        // Code that was let go runs again: formatting and parsing fault back in.
        assert_eq!(format!("{:.2}", "1.5".parse::<f64>().expect("f64")), "1.50");
    }
}
