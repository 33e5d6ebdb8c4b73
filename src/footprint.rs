//! The daemon's resident code: once start-up is over, the code pages that only start-up
//! ran are unmapped, and only the pages the steady state runs come back.
//!
//! Why: the kernel maps a file page's cached neighbours with it (fault-around, 64 KiB)
//! and reads ahead around a page it has to read. So the parsing of the command line and
//! the config, the store's open and repair, TLS set-up, the dynamic loader's work and the
//! first connects leave most of the binary's text and read-only data, and of libc's,
//! libm's and ld.so's, mapped for the life of the process, although the steady state runs
//! a fraction of it.
//!
//! How, without privileges (the service user owns neither the binary nor any capability,
//! so `MADV_PAGEOUT`, which the kernel only lets a file's owner or writer use on its
//! pages, would do nothing under systemd):
//! 1. `MADV_DONTNEED` on each clean, private, read-only file mapping (our executable's
//!    and the shared libraries' text and read-only data): our page tables forget those
//!    pages. They are unmodified copies of their files, so nothing is lost; a page used
//!    again faults back in from the page cache, where other processes' copies stay.
//! 2. For our own executable, which no other process maps, `MADV_RANDOM` first (a page
//!    read back is read alone, without read-around; the kernel honours it for data, not
//!    for text) and `POSIX_FADV_DONTNEED` after: the page cache lets go of its pages no
//!    process maps any more, so fault-around has fewer cached neighbours to map.
//!
//! The steady state faults its pages back in, each once, within a second.
//! A mapping with any anonymous page is never advised: that is a sealed RELRO, whose
//! pages the dynamic loader relocated (forgetting them would read unrelocated bytes back
//! from the file), or data written since. Writable mappings are never advised.
//!
//! Linux only; where an advice is refused (an old kernel, a seccomp filter) nothing
//! changes.

use std::time::Duration;

/// How long after a start or a reload the start-up code is let go: past the first
/// connects, the first window close and the first outbox commits, so what the steady
/// state runs once a minute has run at least once.
pub const AFTER_START: Duration = Duration::from_secs(90);

/// And again every hour: what a rare path ran (an outage's reconnects and backlog, a
/// reload, a daily reset) is let go too, so the resident code stays the last hour's
/// working set instead of growing towards everything ever run (the week's soak: +0.3 MB
/// after the first outage, kept to the end).
pub const EVERY: Duration = Duration::from_secs(3600);

/// One mapping of the executable: its start address and length in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub start: usize,
    pub len: usize,
}

/// The mappings in a `/proc/<pid>/smaps` text that are backed by a file, private,
/// read-only and hold no anonymous page (text and read-only data; never a RELRO, whose
/// relocated pages are anonymous copies, nor writable data), with their file's inode.
pub fn clean_read_only(smaps: &str) -> Vec<(Mapping, u64)> {
    let mut out = Vec::new();
    // The mapping whose fields are being read, if it is a candidate.
    let mut current = None;
    for line in smaps.lines() {
        if let Some(m) = mapping_header(line) {
            current = m;
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
/// that is no candidate (writable, shared, anonymous, a device), `Some(Some(..))` for a
/// clean-able one, `None` for a field line.
fn mapping_header(line: &str) -> Option<Option<(Mapping, u64)>> {
    let mut f = line.split_ascii_whitespace();
    let (a, b) = f.next()?.split_once('-')?;
    let (Ok(start), Ok(end)) = (usize::from_str_radix(a, 16), usize::from_str_radix(b, 16)) else {
        return None;
    };
    let perms = f.next().unwrap_or("").as_bytes();
    let inode = f.nth(2).and_then(|i| i.parse::<u64>().ok()).unwrap_or(0);
    let path = f.next().unwrap_or("");
    let private_read_only = perms.get(1) == Some(&b'-') && perms.get(3) == Some(&b'p');
    let file = inode != 0 && path.starts_with('/') && !path.starts_with("/dev/");
    Some((private_read_only && file && end > start).then_some((
        Mapping {
            start,
            len: end - start,
        },
        inode,
    )))
}

/// Lets go of start-up's code pages (see the module doc); returns the bytes of mappings
/// advised (0 off Linux or when nothing could be read).
pub fn release_start_up_pages() -> usize {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::MetadataExt as _;
        use std::os::unix::io::AsRawFd as _;
        let exe = std::fs::File::open("/proc/self/exe").ok();
        let exe_inode = exe
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map(|m| m.ino());
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return 0;
        };
        let mut advised = 0;
        for (m, inode) in clean_read_only(&smaps) {
            let addr = m.start as *mut libc::c_void;
            // SAFETY: the range is one of our own private file mappings, read-only and
            // without an anonymous page as the kernel just listed it, and nothing in the
            // daemon remaps or writes it: every page is a clean copy of its file, which
            // MADV_DONTNEED only unmaps (the next access reads the same bytes back).
            // MADV_RANDOM only changes read-ahead.
            unsafe {
                if Some(inode) == exe_inode {
                    libc::madvise(addr, m.len, libc::MADV_RANDOM);
                }
                if libc::madvise(addr, m.len, libc::MADV_DONTNEED) == 0 {
                    advised += m.len;
                }
            }
        }
        if let Some(exe) = exe {
            // SAFETY: fadvise only drops clean page-cache pages no process maps.
            unsafe {
                libc::posix_fadvise(exe.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
            }
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
7f0000200000-7f0000201000 r--s 00000000 fd:01 777 /var/lib/x/shared.map
Anonymous:             0 kB
7f0000300000-7f0000301000 r--p 00000000 00:05 12 /dev/zero
Anonymous:             0 kB
7ffc0000000-7ffc0002000 r-xp 00000000 00:00 0 [vdso]
Anonymous:             0 kB
";

    #[test]
    fn only_clean_private_read_only_file_mappings_are_chosen() {
        let rodata = Mapping {
            start: 0x55f8a028f000,
            len: 0x16c000,
        };
        let text = Mapping {
            start: 0x55f8a03fb000,
            len: 0x2c8000,
        };
        let libc = Mapping {
            start: 0x7f0000000000,
            len: 0x100000,
        };
        // Not the RELRO (anonymous pages), writable data, the heap, a shared mapping,
        // a device or the vDSO.
        assert_eq!(
            clean_read_only(SMAPS),
            vec![(rodata, 1234), (text, 1234), (libc, 999)]
        );
    }

    #[test]
    fn a_mapping_without_its_anonymous_line_is_not_chosen() {
        let cut = "55f8a03fb000-55f8a06c3000 r-xp 0016c000 fd:01 1234 /x\nRss: 4 kB\n\
                   55f8a06c3000-55f8a06ea000 rw-p 0 fd:01 1234 /x\nAnonymous: 0 kB\n";
        assert!(clean_read_only(cut).is_empty());
        assert!(clean_read_only("garbage\n\n1-2 r-xp\nAnonymous: 0 kB\n").is_empty());
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
            if let Some(m) = mapping_header(line) {
                in_text = f[1] == "r-xp" && m.is_some_and(|(_, ino)| ino == inode);
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
        let advised = release_start_up_pages();
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
