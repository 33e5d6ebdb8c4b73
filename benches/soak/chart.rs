//! The soak's chart: one panel per curve against simulated time, hand-written SVG (a few
//! polylines and rectangles do not need a plotting crate).
//!
//! Each panel shades the warm-up (grey), the faults (red, named at the top) and what the
//! verdict allows (green: the ±5 % band around the steady median, or up to the outbox
//! depth's ceiling); a gap in a line is an hour the daemon was not running.

use std::fmt::{self, Write as _};

use crate::Settings;
use crate::report::{self, Curve};
use crate::run::Outcome;

const WIDTH: f64 = 960.0;
const PANEL: f64 = 170.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 30.0;
const GAP: f64 = 40.0;

pub(crate) fn svg(o: &Outcome, s: &Settings) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    write_svg(&mut out, o, s).ok();
    out
}

fn write_svg(out: &mut String, o: &Outcome, s: &Settings) -> fmt::Result {
    let curves = report::curves(o, s);
    let height = TOP + curves.len() as f64 * (PANEL + GAP);
    writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12">"#
    )?;
    writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{LEFT}" y="18" font-size="14">sitewarden soak: {} devices, {:.0} simulated hours at x{}</text>"#,
        s.devices, s.hours, s.speedup
    )?;
    for (i, c) in curves.iter().enumerate() {
        let top = TOP + GAP / 2.0 + i as f64 * (PANEL + GAP);
        panel(out, c, o, s, top)?;
    }
    out.push_str("</svg>\n");
    Ok(())
}

/// A panel's coordinates: simulated hours across, the curve's values up.
struct Scale {
    top: f64,
    hours: f64,
    lo: f64,
    hi: f64,
}

impl Scale {
    /// Room for every value and for what the verdict allows.
    fn of(c: &Curve, hours: f64, top: f64) -> Scale {
        let values: Vec<f64> = c.points.iter().filter_map(|p| p.1).collect();
        let m = c.verdict.median;
        let mut lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let mut hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if let Some(cap) = c.verdict.ceiling {
            lo = lo.min(0.0);
            hi = hi.max(cap * 1.1);
        } else if m.is_finite() {
            lo = lo.min(m * 0.9);
            hi = hi.max(m * 1.1);
        }
        if !lo.is_finite() || hi - lo < 1e-9 {
            (lo, hi) = (lo.min(0.0) - 1.0, hi.max(0.0) + 1.0);
        }
        Scale { top, hours, lo, hi }
    }

    fn x(&self, h: f64) -> f64 {
        LEFT + h / self.hours * (WIDTH - LEFT - RIGHT)
    }

    fn y(&self, v: f64) -> f64 {
        self.top + PANEL - (v - self.lo) / (self.hi - self.lo) * PANEL
    }

    fn rect(&self, out: &mut String, h: (f64, f64), v: (f64, f64), fill: &str) -> fmt::Result {
        let (x0, x1, y0, y1) = (self.x(h.0), self.x(h.1), self.y(v.1), self.y(v.0));
        writeln!(
            out,
            r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
            (x1 - x0).max(1.0),
            (y1 - y0).max(1.0)
        )
    }
}

fn panel(out: &mut String, c: &Curve, o: &Outcome, s: &Settings, top: f64) -> fmt::Result {
    let sc = Scale::of(c, s.hours, top);
    backdrop(out, c, o, &sc)?;
    axes(out, c, &sc)?;
    // One polyline per run of hours with a value.
    for run in c.points.split(|p| p.1.is_none()) {
        let pts: Vec<String> = run
            .iter()
            .filter_map(|&(h, v)| v.map(|v| format!("{:.1},{:.1}", sc.x(h), sc.y(v))))
            .collect();
        if !pts.is_empty() {
            writeln!(
                out,
                r##"<polyline points="{}" fill="none" stroke="#1f4e9c" stroke-width="1.5"/>"##,
                pts.join(" ")
            )?;
        }
    }
    Ok(())
}

/// The warm-up, the faults and what the verdict allows (the ±5 % band, or up to the
/// ceiling), under the curve.
fn backdrop(out: &mut String, c: &Curve, o: &Outcome, sc: &Scale) -> fmt::Result {
    let all = (sc.lo, sc.hi);
    sc.rect(out, (0.0, c.from_h), all, "#eeeeee")?;
    for p in &o.plan {
        sc.rect(out, (p.at_h, p.end_h()), all, "#f4b4b4")?;
    }
    let m = c.verdict.median;
    let steady = (c.from_h, sc.hours);
    match c.verdict.ceiling {
        Some(cap) => sc.rect(out, steady, (sc.lo, cap), "#d6f0d6")?,
        None if m.is_finite() => sc.rect(out, steady, (m * 0.95, m * 1.05), "#d6f0d6")?,
        None => {}
    }
    for p in &o.plan {
        writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#a00">{}</text>"##,
            sc.x(p.at_h) + 2.0,
            sc.top + 11.0,
            p.fault.name()
        )?;
    }
    Ok(())
}

/// The frame, the title with the verdict, the value range and the days.
fn axes(out: &mut String, c: &Curve, sc: &Scale) -> fmt::Result {
    let top = sc.top;
    writeln!(
        out,
        r#"<rect x="{LEFT}" y="{top}" width="{}" height="{PANEL}" fill="none" stroke="black"/>"#,
        WIDTH - LEFT - RIGHT
    )?;
    let unit = if c.unit.is_empty() {
        String::new()
    } else {
        format!(" ({})", c.unit)
    };
    writeln!(
        out,
        r#"<text x="{LEFT}" y="{:.1}">{}{unit}: {} ({}) from hour {:.0}, spread {}</text>"#,
        top - 5.0,
        c.name,
        if c.verdict.flat() { "flat" } else { "NOT flat" },
        c.verdict.rule(),
        c.from_h,
        c.verdict.spread_text()
    )?;
    for (v, at) in [(sc.hi, top + 10.0), (sc.lo, top + PANEL)] {
        writeln!(
            out,
            r#"<text x="{:.1}" y="{at:.1}" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            label(v)
        )?;
    }
    for d in 0..=(sc.hours / 24.0) as usize {
        writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">day {d}</text>"#,
            sc.x(d as f64 * 24.0),
            top + PANEL + 12.0
        )?;
    }
    Ok(())
}

fn label(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}
