//! The process's own resident memory and CPU time, from `/proc/self` (two small reads
//! per scrape).

/// (resident bytes, CPU seconds in user and kernel mode); None where `/proc` says nothing.
pub fn read() -> (Option<u64>, Option<f64>) {
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| rss_bytes(&s, sysconf(libc::_SC_PAGESIZE)?));
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_seconds(&s, sysconf(libc::_SC_CLK_TCK)?));
    (rss, cpu)
}

fn sysconf(name: libc::c_int) -> Option<u64> {
    // SAFETY: sysconf reads a constant of the system; no memory is handed over.
    let v = unsafe { libc::sysconf(name) };
    u64::try_from(v).ok().filter(|&v| v > 0)
}

/// `/proc/self/statm`: the second field is resident pages.
fn rss_bytes(statm: &str, page: u64) -> Option<u64> {
    statm
        .split_whitespace()
        .nth(1)?
        .parse::<u64>()
        .ok()
        .map(|p| p * page)
}

/// `/proc/self/stat`: utime and stime are fields 14 and 15, counted after the command
/// name, which is in parentheses and may hold spaces.
fn cpu_seconds(stat: &str, ticks: u64) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((utime + stime) as f64 / ticks as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_past_a_command_name_with_spaces() {
        let stat =
            "4242 (site warden) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0 1234 0";
        assert_eq!(cpu_seconds(stat, 100), Some(3.0));
        assert_eq!(
            rss_bytes("5000 1800 300 100 0 700 0", 4096),
            Some(1800 * 4096)
        );
        assert_eq!(rss_bytes("5000", 4096), None);
        let (rss, cpu) = read();
        assert!(rss.is_some_and(|r| r > 1 << 20), "{rss:?}");
        assert!(cpu.is_some_and(|c| c >= 0.0));
    }
}
