//! The faults sprinkled over the run, at fixed shares of it, so that a shorter run (the
//! smoke) gets the same story: a broker outage, a reload with a changed config, a kill -9
//! and a restart, a longer broker outage. Each comes after the warm-up and each is
//! followed by steady hours before the next, so the curves show whether it left a trace.

/// One fault, as the bench carries it out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// Mosquitto stopped for the given simulated hours, then restarted.
    BrokerOutage,
    /// The config rewritten (one rule more) and SIGHUP sent.
    Reload,
    /// SIGKILL, then the daemon started again on the same data after the downtime.
    Kill9,
}

impl Fault {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Fault::BrokerOutage => "broker outage",
            Fault::Reload => "reload (SIGHUP)",
            Fault::Kill9 => "kill -9 + restart",
        }
    }
}

/// A fault at a simulated hour (from the start), lasting `hours` (0 for the reload).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Planned {
    pub(crate) fault: Fault,
    pub(crate) at_h: f64,
    pub(crate) hours: f64,
}

impl Planned {
    pub(crate) fn end_h(&self) -> f64 {
        self.at_h + self.hours
    }

    /// Whether simulated hour `h` is inside the fault or the hour after it (recovery).
    pub(crate) fn covers(&self, h: f64) -> bool {
        h >= self.at_h && h < self.end_h() + 1.0
    }
}

/// The faults of a run of `total_h` simulated hours whose first `warmup_h` are warm-up:
/// at 1/10, 3/10, 5/10 and 7/10 of the rest, leaving its last quarter steady. Outages
/// last 2 % and 4 % of the run (3.4 and 6.7 hours of a week), the daemon is down for 1 %;
/// but never under 2 and 3 real seconds, and 1 (`h_per_real_s`: simulated hours per
/// real second).
pub(crate) fn plan(total_h: f64, warmup_h: f64, h_per_real_s: f64) -> Vec<Planned> {
    let rest = total_h - warmup_h;
    let at = |share: f64| warmup_h + rest * share;
    vec![
        Planned {
            fault: Fault::BrokerOutage,
            at_h: at(0.1),
            hours: (total_h * 0.02).max(2.0 * h_per_real_s),
        },
        Planned {
            fault: Fault::Reload,
            at_h: at(0.3),
            hours: 0.0,
        },
        Planned {
            fault: Fault::Kill9,
            at_h: at(0.5),
            hours: (total_h * 0.01).max(h_per_real_s),
        },
        Planned {
            fault: Fault::BrokerOutage,
            at_h: at(0.7),
            hours: (total_h * 0.04).max(3.0 * h_per_real_s),
        },
    ]
}
