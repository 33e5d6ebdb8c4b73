//! `/`: the status page. The same snapshot `sitewarden status` prints, as one small HTML
//! document: plain HTML and CSS, no script, refreshed by the browser every 5 seconds
//! (`<meta http-equiv="refresh">`), one column on a phone.

// Writing to a String cannot fail.
#![allow(clippy::let_underscore_must_use)]
use crate::status::Snapshot;
use crate::status::snapshot::format_value;
use std::fmt::Write;

const STYLE: &str = "body{font:15px/1.4 system-ui,sans-serif;margin:0 auto;max-width:60em;\
padding:.5em;color:#222}h1{font-size:1.2em;margin:.3em 0}h2{font-size:1.05em;margin:1em 0 .3em}\
.verdict{display:inline-block;padding:.1em .6em;border-radius:.3em;color:#fff}\
.verdict.ok{background:#2a7}.verdict.degraded{background:#d80}.verdict.down{background:#c33}\
.wrap{overflow-x:auto}table{border-collapse:collapse;width:100%}\
td,th{text-align:left;padding:.25em .5em;border-bottom:1px solid #ddd;vertical-align:top}\
tr.failing td{background:#fee}tr.waiting td{color:#888}.critical{color:#c33;font-weight:bold}\
.warning{color:#b60;font-weight:bold}small{color:#666}";

pub fn render(s: &Snapshot) -> String {
    let mut o = String::with_capacity(8192);
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <meta http-equiv=\"refresh\" content=\"5\"><title>sitewarden {} / {}</title>\
         <style>{STYLE}</style></head><body>\n<h1>sitewarden — site {}, gateway {} \
         <span class=\"verdict {}\" id=\"verdict\">{}</span></h1>\n<small>{} · up {} · \
         version {}</small>\n",
        esc(&s.site),
        esc(&s.gateway),
        esc(&s.site),
        esc(&s.gateway),
        esc(&s.verdict),
        esc(&s.verdict),
        esc(&s.now),
        uptime(s.uptime_s),
        esc(&s.version)
    );
    if !s.reasons.is_empty() {
        o.push_str("<ul class=\"reasons\">");
        for r in &s.reasons {
            let _ = write!(o, "<li>{}</li>", esc(r));
        }
        o.push_str("</ul>\n");
    }
    devices(&mut o, s);
    alarms(&mut o, s);
    zones(&mut o, s);
    uplink(&mut o, s);
    o.push_str("</body></html>\n");
    o
}

fn devices(o: &mut String, s: &Snapshot) {
    let _ = writeln!(
        o,
        "<h2>Devices ({})</h2><div class=\"wrap\"><table id=\"devices\"><tr><th>device</th>\
         <th>state</th><th>last poll</th><th>polls / errors</th><th>values</th></tr>",
        s.devices.len()
    );
    for d in &s.devices {
        let age = d
            .last_poll_age_s
            .map_or("never".to_string(), |a| format!("{a:.1} s ago"));
        let values: Vec<String> = d
            .values
            .iter()
            .map(|v| {
                let shown = match &v.text {
                    Some(t) => format!("\"{t}\""),
                    None => format_value(v.value, v.unit.as_deref()),
                };
                format!("{} {}", esc(&v.point), esc(&shown))
            })
            .collect();
        let error = match (&d.last_error, &d.last_error_at) {
            (Some(e), Some(at)) => format!("<br><small>last error {}: {}</small>", esc(at), esc(e)),
            _ => String::new(),
        };
        let _ = writeln!(
            o,
            "<tr class=\"device {}\" data-device=\"{}\"><td>{}<br><small>{} via {}</small></td>\
             <td>{}</td><td>{age}</td><td>{} / {}</td><td>{}{error}</td></tr>",
            esc(&d.state),
            esc(&d.id),
            esc(&d.id),
            esc(&d.profile),
            esc(&d.connection),
            esc(&d.state),
            d.polls,
            d.errors,
            values.join("<br>")
        );
    }
    o.push_str("</table></div>\n");
}

fn alarms(o: &mut String, s: &Snapshot) {
    let _ = writeln!(o, "<h2>Active alarms ({})</h2>", s.alarms.len());
    if s.alarms.is_empty() {
        o.push_str("<p>none</p>\n");
        return;
    }
    o.push_str(
        "<div class=\"wrap\"><table id=\"alarms\"><tr><th>severity</th><th>rule</th>\
                <th>device</th><th>what</th></tr>\n",
    );
    for a in &s.alarms {
        let point = a
            .point
            .as_deref()
            .map(|p| format!(".{}", esc(p)))
            .unwrap_or_default();
        let _ = writeln!(
            o,
            "<tr class=\"alarm\" data-rule=\"{}\"><td class=\"{}\">{}</td><td>{}</td><td>{}{point}</td>\
             <td>{} <small>(value {}, limit {}) since {}</small></td></tr>",
            esc(&a.rule),
            esc(&a.severity),
            esc(&a.severity),
            esc(&a.rule),
            esc(&a.device),
            esc(&a.message),
            a.value,
            a.limit,
            esc(&a.raised_at)
        );
    }
    o.push_str("</table></div>\n");
}

fn zones(o: &mut String, s: &Snapshot) {
    if s.zones.is_empty() {
        return;
    }
    o.push_str("<h2>Zones</h2><table id=\"zones\">");
    for z in &s.zones {
        let _ = write!(
            o,
            "<tr><td>{}</td><td>{} of {}</td></tr>",
            esc(&z.zone),
            z.occupancy,
            z.capacity
        );
    }
    o.push_str("</table>\n");
}

fn uplink(o: &mut String, s: &Snapshot) {
    let u = &s.uplink;
    let oldest = u
        .oldest_pending_s
        .map_or("none".to_string(), |s| format!("{s} s"));
    let problem = u
        .problem
        .as_deref()
        .map(|p| format!("<br>last problem: {}", esc(p)))
        .unwrap_or_default();
    let _ = writeln!(
        o,
        "<h2>Uplink</h2><p id=\"uplink\">{} ({}){problem}<br>backlog {} ({} alarms), oldest \
         pending {oldest}, published {}, reconnects {}</p>",
        esc(&u.state),
        esc(&u.broker),
        u.backlog,
        u.backlog_alarms,
        u.published,
        u.reconnects
    );
}

fn uptime(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        _ => format!("{} d {} h", s / 86_400, s % 86_400 / 3600),
    }
}

/// Text made safe for HTML element content and quoted attributes.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests;
