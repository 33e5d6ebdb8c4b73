//! The daemon's fast clock: libfaketime, preloaded into the daemon alone.
//!
//! Why a library we did not write: a clock faked inside the daemon would be the code under
//! test vouching for itself, and a week-long soak is about the shipped code paths (tokio's
//! timers, the aligned poll ticks, window closes, the raw ring's flushes, zone resets)
//! running unchanged. libfaketime intercepts the clock and sleep calls at the libc
//! boundary (`LD_PRELOAD`), so the daemon binary is the one that ships; the simulator, the
//! broker and this bench keep the real clock.
//!
//! What it does with a speed-up (`FAKETIME="+<offset> x600"`, measured here with a tokio
//! current-thread runtime under libfaketime 0.9.10, the Debian package):
//! - `CLOCK_REALTIME` and `CLOCK_MONOTONIC` both run 600 times as fast from the process's
//!   start (measured ratio 600), so `Instant` and `SystemTime` agree;
//! - `nanosleep` and the timeouts of `epoll_wait` (tokio's timer driver) are divided by
//!   the speed-up: `tokio::time::sleep(600 s)` took 1.000 s, an `interval` of 600 s three
//!   ticks 2.000 s, a 300 s `timeout` on a silent socket 0.500 s, `thread::sleep(600 s)`
//!   1.000 s;
//! - timeouts below a real millisecond are spun: `epoll_wait` takes whole milliseconds, so
//!   a wait scaled under one returns at once and tokio asks again until the timer is due
//!   (an `interval` of 1 s, 1.7 ms real, used 31 % of a core; one of 100 ms, 65 %). The
//!   daemon's CPU under the fast clock is therefore not its CPU (the site bench measures
//!   that), and the soak does not report it as such;
//! - std's timed waits on a futex (`mpsc::Receiver::recv_timeout`, `Condvar::wait_timeout`)
//!   hand the kernel an absolute `CLOCK_MONOTONIC` deadline computed from the faked clock
//!   through a raw system call libfaketime does not intercept, so they last until woken
//!   (`recv_timeout(600 s)` had not returned after 120 s). In the daemon that is the ack
//!   thread's 1 s batch: the last batch of a burst is deleted when the next ack comes, not
//!   a second later, so the outbox depth sampled between windows counts acknowledged
//!   records still awaiting their delete (at most a window's worth). And the ingest
//!   thread's runtime, which has a timer but no I/O driver, parks on such a futex too:
//!   its 100 ms housekeeping tick runs when a sample arrives, i.e. at every poll round
//!   (once a real second). A window therefore closes at the first round after its end
//!   and grace (10 simulated minutes late at x600), which is why the speed-up is capped
//!   at two poll rounds a window (x1800 with one-hour windows): with one round a window,
//!   every other window would close a whole window late and two would merge.
//!
//! A restarted daemon (after the kill -9) continues the same simulated time: its offset is
//! the simulated time at its start minus the real one.

use std::path::PathBuf;

use anyhow::bail;

const DAY_MS: i64 = 86_400_000;

/// The simulated clock, as a function of the real one.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastClock {
    pub(crate) speedup: i64,
    /// A real instant (unix ms) and the simulated one it maps to.
    real0: i64,
    fake0: i64,
}

impl FastClock {
    /// A clock that starts at the next midnight (UTC), so that simulated days begin with
    /// the zones' daily reset.
    pub(crate) fn starting_now(speedup: i64, real_now_ms: i64) -> FastClock {
        FastClock {
            speedup,
            real0: real_now_ms,
            fake0: (real_now_ms.div_euclid(DAY_MS) + 1) * DAY_MS,
        }
    }

    /// The simulated start (unix ms).
    pub(crate) fn start_ms(&self) -> i64 {
        self.fake0
    }

    pub(crate) fn fake_ms(&self, real_ms: i64) -> i64 {
        self.fake0 + (real_ms - self.real0) * self.speedup
    }

    pub(crate) fn real_ms(&self, fake_ms: i64) -> i64 {
        self.real0 + (fake_ms - self.fake0) / self.speedup
    }

    /// `FAKETIME` for a daemon started at `real_now_ms` that continues this clock.
    pub(crate) fn faketime_at(&self, real_now_ms: i64) -> String {
        let offset_s = (self.fake_ms(real_now_ms) - real_now_ms).div_euclid(1000);
        format!("+{offset_s} x{}", self.speedup)
    }
}

/// The preload library: `SITEWARDEN_SOAK_LIBFAKETIME`, or where Debian's `libfaketime`
/// package puts it (`apt-get install faketime`; scripts/test.sh does).
pub(crate) fn library() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("SITEWARDEN_SOAK_LIBFAKETIME") {
        return Ok(PathBuf::from(p));
    }
    let mut dirs = vec![
        PathBuf::from("/usr/lib/faketime"),
        PathBuf::from("/usr/local/lib/faketime"),
    ];
    // The multiarch directory: /usr/lib/<triplet>/faketime.
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        dirs.extend(entries.flatten().map(|e| e.path().join("faketime")));
    }
    for d in dirs {
        let lib = d.join("libfaketime.so.1");
        if lib.is_file() {
            return Ok(lib);
        }
    }
    bail!(
        "libfaketime.so.1 not found under /usr/lib: install the `faketime` package \
         (scripts/test.sh does) or set SITEWARDEN_SOAK_LIBFAKETIME"
    )
}
