//! The site's local time: an IANA time zone (daylight saving included) or a fixed UTC
//! offset, and the `active` windows of rules ("22:00-06:00" on some days or dates).
//!
//! Pure: the zone database is built into the binary, so the same `Ms` gives the same
//! local time on every machine and no file is read. Everything else stays in UTC `Ms`;
//! only this module turns an instant into a wall-clock time of day.

use crate::reading::Ms;
use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::{Offset, TimeZone};

const DAY_SECS: u32 = 86_400;

/// The site's time zone, named as it was configured.
#[derive(Debug, Clone)]
pub struct LocalZone {
    /// `Asia/Shanghai`, `UTC`, or a fixed offset such as `+08:00`.
    name: String,
    tz: TimeZone,
}

impl PartialEq for LocalZone {
    fn eq(&self, other: &LocalZone) -> bool {
        self.name == other.name
    }
}

impl Default for LocalZone {
    fn default() -> LocalZone {
        LocalZone::utc()
    }
}

/// One instant on the site's wall clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Local {
    pub date: Date,
    /// Seconds after local midnight, 0..86_400.
    pub secs: u32,
}

impl LocalZone {
    pub fn utc() -> LocalZone {
        LocalZone {
            name: "UTC".to_string(),
            tz: TimeZone::UTC,
        }
    }

    /// An IANA zone by name (`Europe/Berlin`), from the built-in database.
    pub fn named(name: &str) -> Result<LocalZone, String> {
        // Only real zone names: a bare offset or POSIX rule string is not a place.
        if !name.contains('/') && name != "UTC" {
            return Err(format!(
                "`{name}` is not an IANA time zone, write it as Area/City (Asia/Shanghai) or UTC"
            ));
        }
        let tz = TimeZone::get(name).map_err(|_| {
            format!("`{name}` is not an IANA time zone, write it as Area/City (Asia/Shanghai)")
        })?;
        Ok(LocalZone {
            name: name.to_string(),
            tz,
        })
    }

    /// A fixed offset east of UTC, in seconds (the older `utc_offset` key).
    pub fn fixed(secs: i64, name: &str) -> LocalZone {
        let offset = i32::try_from(secs)
            .ok()
            .and_then(|s| Offset::from_seconds(s).ok())
            .unwrap_or(Offset::UTC);
        LocalZone {
            name: name.to_string(),
            tz: TimeZone::fixed(offset),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn timestamp(ms: Ms) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    /// The local date and time of day at `ms`.
    pub fn local(&self, ms: Ms) -> Local {
        let dt = self.tz.to_datetime(Self::timestamp(ms));
        let t = dt.time();
        Local {
            date: dt.date(),
            secs: u32::from(t.hour() as u8) * 3600
                + u32::from(t.minute() as u8) * 60
                + u32::from(t.second() as u8),
        }
    }

    /// Seconds east of UTC at `ms` (changes with daylight saving).
    pub fn offset_secs(&self, ms: Ms) -> i64 {
        i64::from(self.tz.to_offset(Self::timestamp(ms)).seconds())
    }

    /// `2026-12-03 22:30` in local time, for people.
    pub fn format(&self, ms: Ms) -> String {
        let l = self.local(ms);
        format!("{} {}", l.date, hh_mm(l.secs))
    }

    /// The instant `date` reads `secs` after midnight here. A time skipped by a
    /// daylight-saving jump moves forward by the jump (02:30 → 03:30); a repeated one
    /// takes its first occurrence.
    pub fn instant(&self, date: Date, secs: u32) -> Option<Ms> {
        let time = jiff::civil::Time::new(
            i8::try_from(secs / 3600).ok()?,
            ((secs / 60) % 60) as i8,
            (secs % 60) as i8,
            0,
        )
        .ok()?;
        let ts = self.tz.to_timestamp(date.to_datetime(time)).ok()?;
        Some(ts.as_millisecond())
    }

    /// The instant local time next reads `secs` after midnight, strictly after `after`.
    pub fn next_at(&self, after: Ms, secs: u32) -> Ms {
        let mut date = self
            .local(after)
            .date
            .yesterday()
            .unwrap_or(self.local(after).date);
        for _ in 0..4 {
            if let Some(ms) = self.instant(date, secs).filter(|&ms| ms > after) {
                return ms;
            }
            date = date.tomorrow().unwrap_or(date);
        }
        after + Ms::from(DAY_SECS) * 1000
    }

    /// The latest instant at or before `now` at which local time read `secs` after
    /// midnight (a daily reset's last occurrence).
    pub fn last_at(&self, now: Ms, secs: u32) -> Ms {
        let mut date = self
            .local(now)
            .date
            .tomorrow()
            .unwrap_or(self.local(now).date);
        for _ in 0..4 {
            if let Some(ms) = self.instant(date, secs).filter(|&ms| ms <= now) {
                return ms;
            }
            date = date.yesterday().unwrap_or(date);
        }
        now - Ms::from(DAY_SECS) * 1000
    }
}

/// `79200` → `22:00`.
pub fn hh_mm(secs: u32) -> String {
    format!("{:02}:{:02}", secs / 3600, (secs / 60) % 60)
}

/// One daily span of local time; `from > to` runs over midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Seconds after midnight, inclusive.
    pub from: u32,
    /// Seconds after midnight, exclusive.
    pub to: u32,
}

impl Span {
    /// `22:00-06:00`.
    pub fn parse(s: &str) -> Result<Span, String> {
        let bad = || format!("`{s}` is not a time window, write it as HH:MM-HH:MM (22:00-06:00)");
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let (from, to) = (
            hhmm(a.trim()).ok_or_else(bad)?,
            hhmm(b.trim()).ok_or_else(bad)?,
        );
        if from == to {
            return Err(format!(
                "`{s}` is empty; for the whole day leave `active` out"
            ));
        }
        Ok(Span { from, to })
    }

    /// The date the span that holds `l` started on, if it holds `l` at all.
    fn started(&self, l: Local) -> Option<Date> {
        if self.from < self.to {
            (self.from..self.to).contains(&l.secs).then_some(l.date)
        } else if l.secs >= self.from {
            Some(l.date)
        } else if l.secs < self.to {
            l.date.yesterday().ok()
        } else {
            None
        }
    }
}

fn hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    let two = |x: &str| -> Option<u32> {
        (x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit()))
            .then(|| x.parse().ok())
            .flatten()
    };
    let (h, m) = (two(h)?, two(m)?);
    // 24:00 ends a window at midnight.
    if (h < 24 && m < 60) || (h == 24 && m == 0) {
        Some(h * 3600 + m * 60)
    } else {
        None
    }
}

/// When a rule judges: any of `spans` (all day when empty), on a day that is one of
/// `days` (every day when empty) and one of `dates` (any date when empty). A span over
/// midnight belongs to the day it starts on.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Active {
    pub spans: Vec<Span>,
    /// Days of the week, Monday = 1 … Sunday = 7.
    pub days: Vec<u8>,
    /// Sorted local dates (a holiday list), with the list's name for `check`.
    pub dates: Vec<Date>,
    pub dates_name: Option<String>,
    /// Dates on which the rule never judges, sorted (`except`).
    pub except: Vec<Date>,
    pub except_name: Option<String>,
}

/// `mon` … `sun` → 1 … 7.
pub fn parse_day(s: &str) -> Option<u8> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    DAYS.iter().position(|d| *d == s).map(|i| i as u8 + 1)
}

/// `2026-10-01` → a date.
pub fn parse_date(s: &str) -> Result<Date, String> {
    let ok = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
    ok.then(|| s.parse::<Date>().ok())
        .flatten()
        .ok_or_else(|| format!("`{s}` is not a date, write it as YYYY-MM-DD"))
}

fn weekday_number(d: Date) -> u8 {
    match d.weekday() {
        Weekday::Monday => 1,
        Weekday::Tuesday => 2,
        Weekday::Wednesday => 3,
        Weekday::Thursday => 4,
        Weekday::Friday => 5,
        Weekday::Saturday => 6,
        Weekday::Sunday => 7,
    }
}

impl Active {
    fn day_ok(&self, d: Date) -> bool {
        (self.days.is_empty() || self.days.contains(&weekday_number(d)))
            && (self.dates.is_empty() || self.dates.binary_search(&d).is_ok())
            && self.except.binary_search(&d).is_err()
    }

    /// Whether the rule judges at local time `l`.
    pub fn contains(&self, l: Local) -> bool {
        if self.spans.is_empty() {
            return self.day_ok(l.date);
        }
        self.spans
            .iter()
            .filter_map(|s| s.started(l))
            .any(|d| self.day_ok(d))
    }

    /// For `check`: `22:00-06:00 on fri, sat, dates holidays`.
    pub fn describe(&self) -> String {
        const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut parts = Vec::new();
        if self.spans.is_empty() {
            parts.push("all day".to_string());
        } else {
            let spans: Vec<String> = (self.spans.iter())
                .map(|s| format!("{}-{}", hh_mm(s.from), hh_mm(s.to)))
                .collect();
            parts.push(spans.join(", "));
        }
        if !self.days.is_empty() {
            let days: Vec<&str> = (self.days.iter())
                .map(|&d| DAYS[usize::from(d.clamp(1, 7) - 1)])
                .collect();
            parts.push(format!("on {}", days.join(" ")));
        }
        if let Some(n) = &self.dates_name {
            parts.push(format!("on {n} ({} dates)", self.dates.len()));
        }
        if let Some(n) = &self.except_name {
            parts.push(format!("except {n} ({} dates)", self.except.len()));
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests;
