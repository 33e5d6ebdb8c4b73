//! Draws the live view as a terminal table: a header with the site clock, the devices
//! with their latest window, the zones with a utilisation bar, the alarms newest first.
//!
//! Owns layout and colour, nothing else: it takes a `View` and the terminal's size and
//! returns lines, fitted to the width and cut to the height, with ANSI colours when asked.
//! Writing them to the terminal is `live.rs`; the content is `view.rs`.

use super::scenario::SiteTime;
use super::view::{AlarmLine, DeviceRow, View, ZoneRow, percent};
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Bold,
    Dim,
    Red,
    Yellow,
    Green,
    Cyan,
}

impl Style {
    fn ansi(self) -> &'static str {
        match self {
            Style::Plain => "",
            Style::Bold => "\x1b[1m",
            Style::Dim => "\x1b[2m",
            Style::Red => "\x1b[1;31m",
            Style::Yellow => "\x1b[33m",
            Style::Green => "\x1b[32m",
            Style::Cyan => "\x1b[36m",
        }
    }
}

/// A line of styled spans, measured in characters (every glyph used here is one column).
#[derive(Debug, Clone, Default)]
struct Line(Vec<(String, Style)>);

impl Line {
    fn add(mut self, text: impl Into<String>, style: Style) -> Line {
        self.0.push((text.into(), style));
        self
    }

    #[cfg(test)]
    fn width(&self) -> usize {
        self.0.iter().map(|(t, _)| t.chars().count()).sum()
    }

    /// Cut to `width` columns, then pad with spaces to exactly `width`.
    fn fit(mut self, width: usize) -> Line {
        let mut left = width;
        for (text, _) in &mut self.0 {
            let n = text.chars().count();
            if n > left {
                *text = text.chars().take(left).collect();
            }
            left -= text.chars().count();
        }
        self.0.retain(|(t, _)| !t.is_empty());
        self.add(" ".repeat(left), Style::Plain)
    }

    fn append(mut self, other: Line) -> Line {
        self.0.extend(other.0);
        self
    }

    fn render(&self, colour: bool) -> String {
        let mut out = String::new();
        for (text, style) in &self.0 {
            if colour && *style != Style::Plain {
                out.push_str(style.ansi());
                out.push_str(text);
                out.push_str("\x1b[0m");
            } else {
                out.push_str(text);
            }
        }
        out.trim_end().to_string()
    }
}

/// What the header says besides the view itself.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    pub(crate) clock: SiteTime,
    pub(crate) elapsed: Duration,
    /// `--for`, if given.
    pub(crate) until: Option<Duration>,
    pub(crate) broker: String,
    pub(crate) log: String,
}

/// The whole screen, at most `height` lines of at most `width` columns.
pub(crate) fn render(
    view: &View,
    header: &Header,
    width: usize,
    height: usize,
    colour: bool,
) -> Vec<String> {
    let width = width.max(40);
    let mut zones: Vec<Line> = view.zones.iter().map(zone).collect();
    if zones.is_empty() {
        zones.push(Line::default().add("  waiting for the first zone window…", Style::Dim));
    }
    if let Some(c) = &view.cells {
        zones.push(Line::default().add(format!("  cells: {c}"), Style::Plain));
    }
    if let Some(p) = &view.patrol {
        zones.push(Line::default().add(format!("  patrol: {p}"), Style::Plain));
    }
    // Header (2), three section rules, the footer; then a few alarms always get room,
    // and the devices what is left.
    let alarm_rows = view.alarms.len().clamp(1, ALARMS_MIN);
    let device_room = height.saturating_sub(6 + zones.len() + alarm_rows);
    let mut top = vec![title(view, header), health_line(view)];
    top.push(rule(
        &format!(
            "devices · last window {} UTC",
            view.window.as_deref().unwrap_or("—")
        ),
        width,
    ));
    top.extend(devices(&view.devices, width, device_room));
    top.push(rule("zones", width));
    top.extend(zones);
    let active = view
        .active
        .map_or(String::new(), |n| format!(" · {n} active"));
    top.push(rule(&format!("alarms, newest first{active}"), width));
    let footer = Line::default().add(
        format!(
            " Ctrl-C to stop · broker {} · daemon log {}",
            header.broker, header.log
        ),
        Style::Dim,
    );
    let room = height.saturating_sub(top.len() + 1);
    if view.alarms.is_empty() && room > 0 {
        top.push(Line::default().add("  none yet", Style::Dim));
    }
    top.extend(view.alarms.iter().take(room).map(alarm));
    let mut lines: Vec<Line> = top;
    lines.truncate(height.saturating_sub(1));
    lines.push(footer);
    lines
        .into_iter()
        .map(|l| l.fit(width).render(colour))
        .collect()
}

fn title(view: &View, h: &Header) -> Line {
    let status = view.status.as_deref().unwrap_or("connecting");
    let status_style = if status == "online" {
        Style::Green
    } else {
        Style::Yellow
    };
    let run = match h.until {
        Some(u) => format!("{} of {}", mmss(h.elapsed), mmss(u)),
        None => mmss(h.elapsed),
    };
    Line::default()
        .add(" sitewarden demo", Style::Bold)
        .add("   site clock ", Style::Plain)
        .add(h.clock.to_string(), Style::Bold)
        .add(format!(" ({})", h.clock.phase()), Style::Cyan)
        .add("   gateway ", Style::Plain)
        .add(status, status_style)
        .add(format!("   running {run}"), Style::Dim)
}

fn health_line(view: &View) -> Line {
    let c = view.counts;
    Line::default()
        .add(
            format!(" {}", view.health.as_deref().unwrap_or("health: waiting")),
            Style::Plain,
        )
        .add(
            format!(
                "   received {} summaries · {} zone windows · {} alarm changes",
                c.summaries, c.zones, c.alarms
            ),
            Style::Dim,
        )
}

/// `── title ────…` across the width.
fn rule(title: &str, width: usize) -> Line {
    let head = format!("── {title} ");
    let fill = width.saturating_sub(head.chars().count());
    Line::default()
        .add(head, Style::Bold)
        .add("─".repeat(fill), Style::Dim)
}

/// Widest device id, so the values line up.
const ID_WIDTH: usize = 17;
/// Narrowest device cell worth a second column.
const CELL_MIN: usize = 48;
/// Alarms always shown (when there are that many), however short the terminal.
const ALARMS_MIN: usize = 5;

/// The device rows, in two columns when the terminal is wide enough, cut to `room`
/// lines with a note of how many did not fit.
fn devices(rows: &[DeviceRow], width: usize, room: usize) -> Vec<Line> {
    let two = width >= 2 * CELL_MIN + 2;
    let mut lines: Vec<Line> = if two {
        let cell = (width - 2) / 2;
        let half = rows.len().div_ceil(2);
        (0..half)
            .map(|i| {
                let left = device(&rows[i], cell);
                match rows.get(half + i) {
                    Some(r) => left.add(" │", Style::Dim).append(device(r, cell)),
                    None => left,
                }
            })
            .collect()
    } else {
        rows.iter().map(|r| device(r, width)).collect()
    };
    if lines.len() > room {
        let shown = room.saturating_sub(1);
        let per_line = if two { 2 } else { 1 };
        let hidden = rows.len().saturating_sub(shown * per_line);
        lines.truncate(shown);
        lines.push(Line::default().add(
            format!("  … and {hidden} more devices (a taller or wider terminal shows them)"),
            Style::Dim,
        ));
    }
    lines
}

/// How the table labels a point: short, or not at all where the unit or the value says
/// it (`21.4°C`, `passing`). The plain lines keep the full point names.
fn label(point: &str) -> &str {
    match point {
        "entries" => "in",
        "exits" => "out",
        "forced_entry" => "forced",
        "tailgating" => "tailgate",
        "status" | "body_temp" | "humidity" | "temperature" | "level_m" | "people_count" => "",
        p => p,
    }
}

fn device(r: &DeviceRow, width: usize) -> Line {
    let (quality, style) = match &r.quality {
        None => ("…".to_string(), Style::Dim),
        Some(q) if q.errors == 0 => (format!("ok {}", q.polls), Style::Green),
        Some(q) => (
            format!(
                "{}/{} ✗ {}",
                q.errors,
                q.polls,
                q.last_error.as_deref().unwrap_or("")
            ),
            Style::Red,
        ),
    };
    let quality: String = quality.chars().take(width / 3).collect();
    let values_width = width.saturating_sub(ID_WIDTH + 3 + quality.chars().count());
    let values = if r.values.is_empty() {
        "waiting for a window…".to_string()
    } else {
        let shown: Vec<String> = r
            .values
            .iter()
            .map(|(p, v)| match label(p) {
                "" => v.clone(),
                l => format!("{l} {v}"),
            })
            .collect();
        shown.join("  ")
    };
    Line::default()
        .add(format!(" {:<ID_WIDTH$} ", r.id), Style::Bold)
        .append(Line::default().add(values, Style::Plain).fit(values_width))
        .add(" ", Style::Plain)
        .add(quality, style)
        .fit(width)
}

const BAR: usize = 20;

fn zone(z: &ZoneRow) -> Line {
    let u = z.utilisation.unwrap_or(0.0);
    let filled = ((u * BAR as f64).round() as usize).min(BAR);
    let style = match u {
        u if u >= 1.0 => Style::Red,
        u if u >= 0.8 => Style::Yellow,
        _ => Style::Green,
    };
    Line::default()
        .add(format!(" {:<ID_WIDTH$} ", z.name), Style::Bold)
        .add(
            format!("{:>5} / {:<5} ", z.occupancy, z.capacity),
            Style::Plain,
        )
        .add("█".repeat(filled), style)
        .add("░".repeat(BAR - filled), Style::Dim)
        .add(format!(" {:>5}", percent(z.utilisation)), style)
        .add(
            format!("   in +{}  out +{}", z.entries, z.exits),
            Style::Dim,
        )
}

fn alarm(a: &AlarmLine) -> Line {
    let sev = match a.severity.as_str() {
        "critical" => Style::Red,
        "warning" => Style::Yellow,
        _ => Style::Cyan,
    };
    let m = a.at.minute as u32;
    let (state, state_style, text_style) = if a.raised {
        ("▲ raised ", Style::Bold, Style::Plain)
    } else {
        ("▽ cleared", Style::Green, Style::Dim)
    };
    Line::default()
        .add(
            format!(" d{} {:02}:{:02}  ", a.at.day, m / 60, m % 60),
            Style::Dim,
        )
        .add(state, state_style)
        .add(format!("  {:<8} ", a.severity), sev)
        .add(format!("{:<ID_WIDTH$} ", a.device), Style::Bold)
        .add(format!("{}: {}", a.rule, a.message), text_style)
}

fn mmss(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}:{:02}", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_fit_the_width_exactly_before_trailing_spaces_are_trimmed() {
        let check = |line: Line, width: usize, expected: &str| {
            let fitted = line.fit(width);
            assert_eq!(fitted.width(), width);
            assert_eq!(fitted.render(false), expected);
        };
        let l = || {
            Line::default()
                .add("abc", Style::Bold)
                .add("déf", Style::Red)
        };
        check(l(), 10, "abcdéf");
        check(l(), 4, "abcd");
        check(l(), 2, "ab");
        check(l(), 0, "");
    }

    #[test]
    fn colour_wraps_each_styled_span_and_resets() {
        let l = Line::default().add("a", Style::Plain).add("b", Style::Red);
        assert_eq!(l.render(true), "a\x1b[1;31mb\x1b[0m");
        assert_eq!(l.render(false), "ab");
    }

    #[test]
    fn rules_run_across_the_width() {
        assert_eq!(rule("zones", 12).render(false), "── zones ───");
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        let check = |s: u64, expected: &str| assert_eq!(mmss(Duration::from_secs(s)), expected);
        check(0, "0:00");
        check(59, "0:59");
        check(240, "4:00");
    }
}
