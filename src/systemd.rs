//! systemd integration: READY, STATUS, WATCHDOG and STOPPING notifications.
//!
//! Every function is a no-op when the process is not run by systemd (`NOTIFY_SOCKET`
//! unset), so the same binary runs by hand, in tests and under the unit.

use sd_notify::NotifyState;
use std::time::Duration;

fn send(states: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// Config loaded and store open: the service is up.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// The one-line status `systemctl status` shows.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Proof of progress; call only from the loop that proves it.
pub fn watchdog() {
    send(&[NotifyState::Watchdog]);
}

pub fn reloading() {
    send(&[NotifyState::Reloading]);
}

pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The watchdog interval systemd expects pings within, if enabled for this process.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// What the watchdog judges: is ingest ticking, and are samples arriving?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    pub now: crate::reading::Ms,
    pub ingest_tick: crate::reading::Ms,
    pub last_sample: crate::reading::Ms,
    /// Devices configured; with none, no samples are expected.
    pub devices: usize,
    pub started: crate::reading::Ms,
}

/// Ingest must have ticked within 5 s, and with devices configured a sample (good or
/// failed: a dead device still yields failed samples, at least every 10 s) must have
/// arrived within 30 s, or within 30 s of start. Otherwise the watchdog starves and
/// systemd restarts the service.
pub fn healthy(l: Liveness) -> bool {
    let ingest_ok = l.now - l.ingest_tick <= 5_000;
    let polling_ok = l.devices == 0 || l.now - l.last_sample.max(l.started) <= 30_000;
    ingest_ok && polling_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_is_fed_only_while_ingest_ticks_and_samples_arrive() {
        let base = Liveness {
            now: 100_000,
            ingest_tick: 99_900,
            last_sample: 99_000,
            devices: 3,
            started: 0,
        };
        let cases = [
            (base, true),
            (
                Liveness {
                    ingest_tick: 90_000,
                    ..base
                },
                false,
            ),
            (
                Liveness {
                    last_sample: 60_000,
                    ..base
                },
                false,
            ),
            (
                Liveness {
                    last_sample: 0,
                    started: 90_000,
                    ..base
                },
                true,
            ),
            (
                Liveness {
                    last_sample: 0,
                    devices: 0,
                    ..base
                },
                true,
            ),
        ];
        for (l, want) in cases {
            assert_eq!(healthy(l), want, "{l:?}");
        }
    }
}
