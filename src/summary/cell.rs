//! Grid-cell rollups: each window, every cell's devices (ok / failing), its active
//! alarms by severity, the occupancy of the zones inside it and its worst state, so a
//! platform can draw the grid map without knowing a single device.
//!
//! A cell is `blind` when it has devices and every one of them is failing (silent or
//! answering with errors), `critical` when a critical alarm is active in it, `warning`
//! when a device is failing or a warning alarm is active, `ok` otherwise. Info alarms
//! are counted but change no state. Pure: `ingest` hands in what it knows.

use crate::rules::Alarm;
use crate::site::{Severity, Site};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CellState {
    Ok,
    Warning,
    Critical,
    Blind,
}

impl CellState {
    pub fn name(self) -> &'static str {
        match self {
            CellState::Ok => "ok",
            CellState::Warning => "warning",
            CellState::Critical => "critical",
            CellState::Blind => "blind",
        }
    }
}

/// One cell at the end of a window.
#[derive(Debug, Clone, PartialEq)]
pub struct CellRollup {
    /// Index into `Site::cells`.
    pub cell: usize,
    pub ok: usize,
    pub failing: usize,
    /// Active alarms: info, warning, critical.
    pub alarms: [usize; 3],
    /// Zones with a device in the cell: (name, occupancy, capacity).
    pub zones: Vec<(String, u64, u64)>,
    pub state: CellState,
}

/// The state of a cell of `total` devices, `failing` of them failing, with `alarms`
/// active (info, warning, critical).
pub fn state_of(total: usize, failing: usize, alarms: [usize; 3]) -> CellState {
    if total > 0 && failing == total {
        CellState::Blind
    } else if alarms[2] > 0 {
        CellState::Critical
    } else if failing > 0 || alarms[1] > 0 {
        CellState::Warning
    } else {
        CellState::Ok
    }
}

fn severity_index(s: Severity) -> usize {
    match s {
        Severity::Info => 0,
        Severity::Warning => 1,
        Severity::Critical => 2,
    }
}

/// Every cell of `site`. `failing[d]` says whether device `d` is failing; `active` are
/// the raised alarms (an alarm counts in the cell `Site::cell_for` gives it, so a
/// capacity alarm of a zone spanning cells counts in none); `occupancy` gives a zone's.
pub fn rollups(
    site: &Site,
    failing: &[bool],
    active: &[Alarm],
    occupancy: impl Fn(&str) -> Option<u64>,
) -> Vec<CellRollup> {
    let mut alarms = vec![[0usize; 3]; site.cells.len()];
    for a in active {
        if let Some(c) = site.cell_for(&a.device)
            && let Some(i) = site.cells.iter().position(|x| x.name == c.name)
        {
            alarms[i][severity_index(a.severity)] += 1;
        }
    }
    (site.cells.iter().enumerate())
        .map(|(i, cell)| {
            let bad = (cell.devices.iter())
                .filter(|&&d| failing.get(d).copied().unwrap_or(false))
                .count();
            let total = cell.devices.len();
            let mut zones: Vec<(String, u64, u64)> = Vec::new();
            for &d in &cell.devices {
                let Some(z) = site.devices.get(d).and_then(|d| d.zone.as_deref()) else {
                    continue;
                };
                if zones.iter().any(|(n, _, _)| n == z) {
                    continue;
                }
                if let Some(zone) = site.zones.iter().find(|x| x.name == z) {
                    zones.push((z.to_string(), occupancy(z).unwrap_or(0), zone.capacity));
                }
            }
            CellRollup {
                cell: i,
                ok: total - bad,
                failing: bad,
                alarms: alarms[i],
                zones,
                state: state_of(total, bad, alarms[i]),
            }
        })
        .collect()
}

/// Per cell kind, how many cells are in each state (ok, warning, critical, blind).
pub fn by_kind<'s>(site: &'s Site, rollups: &[CellRollup]) -> BTreeMap<&'s str, [usize; 4]> {
    let mut out: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for c in &site.cells {
        out.entry(c.kind.as_str()).or_default();
    }
    for r in rollups {
        if let Some(c) = site.cells.get(r.cell) {
            out.entry(c.kind.as_str()).or_default()[r.state as usize] += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests;
