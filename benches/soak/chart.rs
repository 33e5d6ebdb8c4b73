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

fn panel(out: &mut String, c: &Curve, o: &Outcome, s: &Settings, top: f64) -> fmt::Result {
    let values: Vec<f64> = c.points.iter().filter_map(|p| p.1).collect();
    let m = c.verdict.median;
    let band = if m.is_finite() { m * 0.05 } else { 0.0 };
    let mut lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let mut hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if let Some(cap) = c.verdict.ceiling {
        lo = lo.min(0.0);
        hi = hi.max(cap * 1.1);
    } else if m.is_finite() {
        lo = lo.min(m - 2.0 * band);
        hi = hi.max(m + 2.0 * band);
    }
    if !lo.is_finite() || hi - lo < 1e-9 {
        (lo, hi) = (lo.min(0.0) - 1.0, hi.max(0.0) + 1.0);
    }
    let plot_w = WIDTH - LEFT - RIGHT;
    let x = |h: f64| LEFT + h / s.hours * plot_w;
    let y = |v: f64| top + PANEL - (v - lo) / (hi - lo) * PANEL;
    let rect = |out: &mut String, x0: f64, x1: f64, y0: f64, y1: f64, fill: &str| {
        writeln!(
            out,
            r#"<rect x="{x0:.1}" y="{y0:.1}" width="{:.1}" height="{:.1}" fill="{fill}"/>"#,
            (x1 - x0).max(1.0),
            (y1 - y0).max(1.0)
        )
    };
    rect(out, x(0.0), x(c.from_h), top, top + PANEL, "#eeeeee")?;
    for p in &o.plan {
        rect(out, x(p.at_h), x(p.end_h()), top, top + PANEL, "#f4b4b4")?;
    }
    // What the verdict allows: the ±5 % band, or up to the ceiling.
    match c.verdict.ceiling {
        Some(cap) => rect(out, x(c.from_h), x(s.hours), y(cap), y(lo), "#d6f0d6")?,
        None if m.is_finite() => {
            rect(
                out,
                x(c.from_h),
                x(s.hours),
                y(m + band),
                y(m - band),
                "#d6f0d6",
            )?;
        }
        None => {}
    }
    for p in &o.plan {
        writeln!(
            out,
            r##"<text x="{:.1}" y="{:.1}" font-size="10" fill="#a00">{}</text>"##,
            x(p.at_h) + 2.0,
            top + 11.0,
            p.fault.name()
        )?;
    }
    writeln!(
        out,
        r#"<rect x="{LEFT}" y="{top}" width="{plot_w}" height="{PANEL}" fill="none" stroke="black"/>"#
    )?;
    let unit = if c.unit.is_empty() {
        String::new()
    } else {
        format!(" ({})", c.unit)
    };
    let verdict = format!(
        "{} ({}) from hour {:.0}, spread {:.1} %",
        if c.verdict.flat() { "flat" } else { "NOT flat" },
        c.verdict.rule(),
        c.from_h,
        c.verdict.spread() * 100.0
    );
    writeln!(
        out,
        r#"<text x="{LEFT}" y="{:.1}">{}{unit}: {verdict}</text>"#,
        top - 5.0,
        c.name
    )?;
    for (v, anchor) in [(hi, top + 10.0), (lo, top + PANEL)] {
        writeln!(
            out,
            r#"<text x="{:.1}" y="{anchor:.1}" text-anchor="end">{}</text>"#,
            LEFT - 4.0,
            label(v)
        )?;
    }
    for d in 0..=(s.hours / 24.0) as usize {
        writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">day {d}</text>"#,
            x(d as f64 * 24.0),
            top + PANEL + 12.0
        )?;
    }
    // One polyline per run of hours with a value.
    for run in c.points.split(|p| p.1.is_none()) {
        if run.is_empty() {
            continue;
        }
        let pts: Vec<String> = run
            .iter()
            .filter_map(|&(h, v)| v.map(|v| format!("{:.1},{:.1}", x(h), y(v))))
            .collect();
        writeln!(
            out,
            r##"<polyline points="{}" fill="none" stroke="#1f4e9c" stroke-width="1.5"/>"##,
            pts.join(" ")
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
