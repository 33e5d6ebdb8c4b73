//! `probe`'s output: the header line, the table of points and the summary line.
//!
//! Pure formatting of what `read_once` returned; nothing here talks to a device.

use std::time::Duration;

use crate::cli::table::{columns, plural};
use crate::reading::PollError;
use crate::site::{ByteOrder, ConnectionKind, Device, Point, PointSource, PointType, Table};
use crate::source::modbus::plan;
use crate::source::modbus::{PointReading, ReadOnce};

/// The first line: what is probed, where.
pub(super) fn header(kind: &ConnectionKind, device: &Device) -> String {
    let link = format!("{} {}", kind.type_name(), kind.link_detail());
    format!(
        "{} ({}), unit {}, on {link}",
        device.id, device.profile, device.unit
    )
}

/// The table and the summary line, each line ending in a newline. Pure, for the tests.
pub(super) fn render(device: &Device, read: &ReadOnce, took: Duration) -> String {
    let mut rows = vec![
        [
            "point",
            "table",
            "address",
            "type",
            "registers",
            "value",
            "kind",
        ]
        .map(String::from)
        .to_vec(),
    ];
    let mut failed = 0;
    for (point, reading) in device.points.iter().zip(&read.points) {
        let PointSource::Modbus {
            table,
            address,
            ty,
            order,
        } = &point.source
        else {
            continue;
        };
        let width = if table.is_bits() { 1 } else { ty.registers() };
        let place = if width > 1 {
            format!("{address}-{}", u32::from(*address) + u32::from(width) - 1)
        } else {
            address.to_string()
        };
        if reading.error.is_some() {
            failed += 1;
        }
        rows.push(vec![
            point.name.clone(),
            table.name().to_string(),
            place,
            type_name(*ty, *order),
            registers(*table, &reading.raw_registers),
            value(point, reading),
            point.kind.name().to_string(),
        ]);
    }
    let mut out = String::new();
    for row in columns(&rows) {
        out.push_str(&row);
        out.push('\n');
    }
    let planned = plan::reads_per_poll(device);
    let points = rows.len() - 1;
    let mut summary = format!(
        "{} in {} ms; {} of {points} points read",
        plural(read.requests, "request"),
        took.as_millis(),
        points - failed
    );
    if read.requests < planned {
        summary.push_str(&format!(
            " ({planned} planned; the rest not asked once the device did not answer)"
        ));
    }
    out.push_str(&summary);
    out.push('\n');
    out
}

fn registers(table: Table, raw: &[u16]) -> String {
    if raw.is_empty() {
        return "-".to_string();
    }
    let each: Vec<String> = if table.is_bits() {
        raw.iter().map(u16::to_string).collect()
    } else {
        raw.iter().map(|w| format!("{w:04X}")).collect()
    };
    each.join(" ")
}

fn value(point: &Point, reading: &PointReading) -> String {
    match (&reading.error, reading.raw) {
        (Some(e), _) => error(e),
        // Quoted, so an empty or space-led text is seen for what it is.
        (None, None) if reading.text.is_some() => {
            format!("\"{}\"", reading.text.as_deref().unwrap_or_default())
        }
        (None, Some(raw)) => {
            let v = point.engineering(raw);
            let f32_point = matches!(
                point.source,
                PointSource::Modbus {
                    ty: PointType::F32,
                    ..
                }
            );
            // An f32 is shown as the f32 it is, not as its longer f64 widening.
            let mut s = if f32_point {
                (v as f32).to_string()
            } else {
                v.to_string()
            };
            if let Some(unit) = &point.unit {
                s.push(' ');
                s.push_str(unit);
            }
            s
        }
        (None, None) => "-".to_string(),
    }
}

fn error(e: &PollError) -> String {
    match e {
        PollError::Timeout => "no answer (timeout)".to_string(),
        other => other.to_string(),
    }
}

fn type_name(ty: PointType, order: ByteOrder) -> String {
    ty.describe(order)
}
