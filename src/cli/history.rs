//! `sitewarden history DEVICE[.POINT]`: the raw readings of a time window, read from the
//! raw ring offline (`store::history`), safely while the daemon runs.
//!
//! Values are printed as the daemon sees them: raw device numbers through the point's
//! `scale` and `offset` of the configuration given (`site::Point::engineering`), with its
//! unit; each reading carries its quality (`good`, or why the poll gave no value).

use crate::clock;
use crate::reading::{Ms, Sample};
use crate::site::{Device, Site};
use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub struct HistoryArgs {
    /// A device id, or `device.point` for one point.
    #[arg(value_name = "DEVICE[.POINT]")]
    pub target: String,
    #[arg(short, long, default_value = super::DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Start of the window: a duration back from now (`2h`, `30m`) or an RFC 3339 instant.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// End of the window, the same way (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// Comma-separated values with a header line, for spreadsheets and scripts.
    #[arg(long)]
    pub csv: bool,
}

/// Which device and points were asked for.
#[derive(Debug, PartialEq)]
pub struct Target {
    pub device: usize,
    /// Point indices of the device, in profile order.
    pub points: Vec<usize>,
}

pub fn main(args: &HistoryArgs) -> anyhow::Result<()> {
    let site = super::load_site(&args.config)?;
    let target = resolve(&site, &args.target)
        .with_context(|| format!("{}: history {}", args.config.display(), args.target))?;
    let now = clock::now_ms();
    let since = instant(&args.since, now).context("--since")?;
    let until = match &args.until {
        Some(u) => instant(u, now).context("--until")?,
        None => now,
    };
    if until < since {
        bail!(
            "--until ({}) is before --since ({})",
            clock::rfc3339(until),
            clock::rfc3339(since)
        );
    }
    let dir = site.gateway.data_dir.join("raw");
    let device = &site.devices[target.device];
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if args.csv {
        writeln!(out, "time,device,point,value,unit,quality")?;
    }
    let mut rows = 0u64;
    let mut line = String::new();
    let mut failed: Option<std::io::Error> = None;
    crate::store::history::read_window(&dir, &site, since, until, |s: Sample| {
        if s.device != target.device || failed.is_some() {
            return;
        }
        for &p in &target.points {
            line.clear();
            if !row(device, p, &s, args.csv, &mut line) {
                continue;
            }
            rows += 1;
            if let Err(e) = out.write_all(line.as_bytes()) {
                failed = Some(e);
                return;
            }
        }
    })
    .with_context(|| format!("reading the raw ring in {}", dir.display()))?;
    if let Some(e) = failed {
        return Err(e).context("writing to stdout");
    }
    out.flush()?;
    if !args.csv {
        eprintln!(
            "{rows} readings of {} from {} to {}",
            args.target,
            clock::rfc3339(since),
            clock::rfc3339(until)
        );
    }
    Ok(())
}

/// `device` or `device.point`, by the configuration's ids (a device id holds no dot).
pub fn resolve(site: &Site, text: &str) -> anyhow::Result<Target> {
    if let Some(device) = site.device_index(text) {
        let points = (0..site.devices[device].points.len()).collect();
        return Ok(Target { device, points });
    }
    let Some((dev, point)) = text.rsplit_once('.') else {
        bail!("unknown device `{text}` (known: {})", known_devices(site));
    };
    let Some(device) = site.device_index(dev) else {
        bail!("unknown device `{dev}` (known: {})", known_devices(site));
    };
    let d = &site.devices[device];
    let Some(p) = d.point_index(point) else {
        let names: Vec<&str> = d.points.iter().map(|p| p.name.as_str()).collect();
        bail!(
            "device `{dev}` has no point `{point}` (its points: {})",
            names.join(", ")
        );
    };
    Ok(Target {
        device,
        points: vec![p],
    })
}

fn known_devices(site: &Site) -> String {
    let ids: Vec<&str> = site.devices.iter().map(|d| d.id.as_str()).collect();
    if ids.is_empty() {
        "none".into()
    } else {
        ids.join(", ")
    }
}

/// `2h` (back from `now`), `now`, or an RFC 3339 instant such as
/// `2026-12-05T06:00:00Z` or `2026-12-05T14:00:00+08:00`.
pub fn instant(text: &str, now: Ms) -> anyhow::Result<Ms> {
    let text = text.trim();
    if text == "now" {
        return Ok(now);
    }
    if let Ok(d) = humantime::parse_duration(text) {
        return Ok(now - i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2));
    }
    // The strict RFC 3339 reader the command path uses (jiff's would link its whole
    // temporal parser into the binary for this one argument).
    if text.as_bytes().get(4) == Some(&b'-') {
        return crate::uplink::command::text::parse_time(text).map_err(anyhow::Error::msg);
    }
    bail!(
        "`{text}` is neither a duration back from now (e.g. `2h`, `30m`) nor an RFC 3339 \
         instant (e.g. `2026-12-05T06:00:00Z`)"
    )
}

/// One reading of point `p` as a line; false when the sample says nothing about the point
/// (a camera message about another field).
pub fn row(device: &Device, p: usize, s: &Sample, csv: bool, out: &mut String) -> bool {
    let point = &device.points[p];
    let value = s
        .values
        .get(p)
        .copied()
        .flatten()
        .map(|raw| point.engineering(raw));
    let quality = match (value, &s.error) {
        (Some(_), _) => "good".to_string(),
        (None, Some(e)) => format!("bad: {e}"),
        (None, None) => return false,
    };
    let shown = value.map_or(String::new(), |v| v.to_string());
    let unit = point.unit.as_deref().unwrap_or("");
    let time = clock::rfc3339(s.ts);
    // Writing to a String cannot fail.
    #[allow(clippy::let_underscore_must_use)]
    let _ = if csv {
        writeln!(
            out,
            "{time},{},{},{shown},{},{}",
            csv_field(&device.id),
            csv_field(&point.name),
            csv_field(unit),
            csv_field(&quality)
        )
    } else {
        let value = if shown.is_empty() {
            "—".to_string()
        } else {
            format!("{shown} {unit}")
        };
        writeln!(
            out,
            "{time}  {:<16} {:<16} {:>14}  {quality}",
            device.id,
            point.name,
            value.trim_end()
        )
    };
    true
}

/// A CSV field, quoted when it holds a comma, quote or line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests;
