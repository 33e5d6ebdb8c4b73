//! When patrol rounds start: times of day in the site's local time, written either as
//! `every 2h from 20:00 to 06:00` (over midnight when `to` is not after `from`) or as a
//! list of start times. Pure; `localtime` turns a local time of day into an instant, so
//! daylight saving is handled there: a start in the hour skipped in spring moves forward
//! with the clock (02:00 → 03:00), and one in the hour repeated in autumn happens once.

use crate::localtime::{LocalZone, hh_mm};
use crate::reading::Ms;

const DAY_SECS: u32 = 86_400;
/// The shortest `every`: below this a schedule is a poll, not a patrol (and a day of
/// start times stays small).
const MIN_EVERY_SECS: u32 = 10;

/// The start times of one patrol, as seconds after local midnight.
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Sorted, no repeats, each < 86 400.
    starts: Vec<u32>,
    /// How it was written, normalised, for `check`.
    text: String,
}

impl Schedule {
    /// `every 2h from 20:00 to 06:00`: starts at `from`, then every `every`, before `to`
    /// (exclusive); `to` at or before `from` runs over midnight, `00:00 to 24:00` is the
    /// whole day. Times may carry seconds (`20:00:30`).
    pub fn every(text: &str) -> Result<Schedule, String> {
        let bad = || {
            format!(
                "`{text}` is not a schedule, write it as `every 2h from 20:00 to 06:00` or a list of start times"
            )
        };
        let words: Vec<&str> = text.split_whitespace().collect();
        let ["every", every, "from", from, "to", to] = words.as_slice() else {
            return Err(bad());
        };
        let every = humantime::parse_duration(every).map_err(|_| bad())?;
        if every.subsec_nanos() != 0 || every.as_secs() < u64::from(MIN_EVERY_SECS) {
            return Err(format!(
                "`{text}`: rounds must be at least {MIN_EVERY_SECS}s apart, in whole seconds"
            ));
        }
        let every = u32::try_from(every.as_secs()).unwrap_or(u32::MAX);
        let from = time_of_day(from).ok_or_else(bad)?;
        let to = time_of_day(to).ok_or_else(bad)?;
        if from == DAY_SECS {
            return Err(bad());
        }
        // `to` as an offset after `from`, so a span over midnight is one run.
        let span = if to > from {
            to - from
        } else {
            to + DAY_SECS - from
        };
        let mut starts: Vec<u32> = (0..span)
            .step_by(every as usize)
            .map(|k| (from + k) % DAY_SECS)
            .collect();
        starts.sort_unstable();
        starts.dedup();
        Ok(Schedule {
            starts,
            text: format!("every {} from {} to {}", words[1], clock(from), clock(to)),
        })
    }

    /// A list of start times (`["20:00", "23:30"]`).
    pub fn at(times: &[String]) -> Result<Schedule, String> {
        if times.is_empty() {
            return Err("the list of start times is empty".to_string());
        }
        let mut starts = Vec::with_capacity(times.len());
        for t in times {
            match time_of_day(t).filter(|&s| s < DAY_SECS) {
                Some(s) => starts.push(s),
                None => return Err(format!("`{t}` is not a time of day, write it as HH:MM")),
            }
        }
        starts.sort_unstable();
        starts.dedup();
        let text = starts.iter().map(|&s| clock(s)).collect::<Vec<_>>();
        Ok(Schedule {
            text: format!("at {}", text.join(", ")),
            starts,
        })
    }

    /// How it was written, for people.
    pub fn describe(&self) -> &str {
        &self.text
    }

    /// Rounds a day.
    pub fn per_day(&self) -> usize {
        self.starts.len()
    }

    /// The shortest time from one start to the next (over midnight too), seconds.
    pub fn shortest_gap(&self) -> u32 {
        let wrap = self
            .starts
            .first()
            .zip(self.starts.last())
            .map_or(DAY_SECS, |(a, b)| a + DAY_SECS - b);
        (self.starts.windows(2))
            .map(|w| w[1] - w[0])
            .fold(wrap, u32::min)
    }

    /// The first scheduled start strictly after `after`, in `tz`.
    pub fn next_after(&self, tz: &LocalZone, after: Ms) -> Ms {
        let l = tz.local(after);
        let mut date = l.date.yesterday().unwrap_or(l.date);
        let mut best: Option<Ms> = None;
        for day in 0..4 {
            // Starts well before `after`'s time of day (on its date, or the day before
            // late in the evening) cannot follow it.
            let lo = match day {
                0 => (l.secs + DAY_SECS).saturating_sub(DST_MARGIN),
                1 => l.secs.saturating_sub(DST_MARGIN),
                _ => 0,
            };
            let i = self.starts.partition_point(|&s| s < lo);
            let hit = first(
                self.starts[i..].iter().copied(),
                |s| tz.instant(date, s).filter(|&ms| ms > after),
                |a, b| a < b,
            );
            best = match (best, hit) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            // A later date's starts all come after this date's.
            if best.is_some() && day >= 1 {
                return best.unwrap_or(after);
            }
            date = date.tomorrow().unwrap_or(date);
        }
        // Unreachable with a non-empty schedule; a day on is a safe answer.
        after + Ms::from(DAY_SECS) * 1000
    }

    /// The latest scheduled start at or before `now`, in `tz`.
    pub fn last_at_or_before(&self, tz: &LocalZone, now: Ms) -> Ms {
        let l = tz.local(now);
        let mut date = l.date.tomorrow().unwrap_or(l.date);
        let mut best: Option<Ms> = None;
        for day in 0..4 {
            // Starts well after `now`'s time of day (on its date, or the next day early
            // in the morning) cannot precede it.
            let hi = match day {
                0 => (l.secs + DST_MARGIN).saturating_sub(DAY_SECS),
                1 => l.secs + DST_MARGIN,
                _ => DAY_SECS,
            };
            let i = self.starts.partition_point(|&s| s <= hi);
            let below = self.starts[..i].iter().rev().copied();
            let hit = first(
                below,
                |s| tz.instant(date, s).filter(|&ms| ms <= now),
                |a, b| a > b,
            );
            best = match (best, hit) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            if best.is_some() && day >= 1 {
                return best.unwrap_or(now);
            }
            date = date.yesterday().unwrap_or(date);
        }
        now - Ms::from(DAY_SECS) * 1000
    }
}

/// Within one date, instants follow the time of day except near a daylight-saving change,
/// which moves a time by at most this much (2 h, Antarctica/Troll).
const DST_MARGIN: u32 = 2 * 3600 + 60;

/// The best of `pick` over `starts` (in time-of-day order, either way), by `better`:
/// after the first hit, only starts within `DST_MARGIN` of it can still beat it.
fn first(
    starts: impl IntoIterator<Item = u32>,
    pick: impl Fn(u32) -> Option<Ms>,
    better: impl Fn(Ms, Ms) -> bool,
) -> Option<Ms> {
    let mut best: Option<(u32, Ms)> = None;
    let mut first_at: Option<u32> = None;
    for s in starts {
        if first_at.is_some_and(|f| s.abs_diff(f) > DST_MARGIN) {
            break;
        }
        if let Some(ms) = pick(s) {
            first_at.get_or_insert(s);
            if best.is_none_or(|(_, b)| better(ms, b)) {
                best = Some((s, ms));
            }
        }
    }
    best.map(|(_, ms)| ms)
}

/// `20:00`, `20:00:30` or `24:00` → seconds after midnight.
fn time_of_day(s: &str) -> Option<u32> {
    let mut parts = s.split(':');
    let two = |x: Option<&str>| -> Option<u32> {
        let x = x?;
        (x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse().ok())
            .flatten()
    };
    let (h, m) = (two(parts.next())?, two(parts.next())?);
    let sec = match parts.next() {
        None => 0,
        some => two(some)?,
    };
    if parts.next().is_some() || m > 59 || sec > 59 {
        return None;
    }
    match h * 3600 + m * 60 + sec {
        t if t <= DAY_SECS => Some(t),
        _ => None,
    }
}

/// `HH:MM`, with `:SS` only when not zero.
fn clock(secs: u32) -> String {
    if secs.is_multiple_of(60) {
        hh_mm(secs)
    } else {
        format!("{}:{:02}", hh_mm(secs), secs % 60)
    }
}
