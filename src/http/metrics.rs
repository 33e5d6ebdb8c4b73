//! `/metrics`: the daemon's counters in the Prometheus text format (version 0.0.4).
//!
//! Built from what the status snapshot already gathers (per-device counts, alarms,
//! backlog) plus `Health`'s process-wide counters, the outbox's stats and `/proc/self`.
//! Names follow the Prometheus conventions: `sitewarden_` prefix, base units (seconds,
//! bytes), `_total` on counters; the process's memory and CPU use the standard
//! `process_` names that dashboards already know.

// Writing to a String cannot fail.
#![allow(clippy::let_underscore_must_use)]
use crate::health::{Health, LATENCY_BOUNDS_MS, get};
use crate::status::Snapshot;
use crate::store::{Kind, OutboxStats};
use std::fmt::Write;

/// What a scrape reads besides the snapshot.
pub struct Inputs<'a> {
    pub snapshot: &'a Snapshot,
    pub health: &'a Health,
    pub outbox: &'a OutboxStats,
    pub rss_bytes: Option<u64>,
    pub cpu_seconds: Option<f64>,
    pub started_ms: crate::reading::Ms,
}

pub fn render(i: &Inputs<'_>) -> String {
    let mut o = String::with_capacity(4096);
    let h = i.health;
    let info = format!("version=\"{}\"", escape(env!("CARGO_PKG_VERSION")));
    family(
        &mut o,
        "sitewarden_build_info",
        "gauge",
        "Always 1; the version as a label.",
    );
    sample(&mut o, "sitewarden_build_info", &info, 1.0);
    polls(&mut o, i);
    device_polls(&mut o, i);
    latency(&mut o, h);
    outbox(&mut o, i.outbox, i.snapshot);
    uplink(&mut o, h);
    alarms(&mut o, i.snapshot);
    family(
        &mut o,
        "sitewarden_store_bytes",
        "gauge",
        "Bytes on disk per store.",
    );
    sample(
        &mut o,
        "sitewarden_store_bytes",
        "store=\"raw\"",
        get(&h.raw_bytes) as f64,
    );
    sample(
        &mut o,
        "sitewarden_store_bytes",
        "store=\"outbox\"",
        i.outbox.bytes_on_disk as f64,
    );
    family(
        &mut o,
        "sitewarden_raw_dropped_total",
        "counter",
        "Readings dropped from the raw ring to stay within its bound.",
    );
    sample(
        &mut o,
        "sitewarden_raw_dropped_total",
        "",
        get(&h.raw_dropped) as f64,
    );
    process(&mut o, i);
    o
}

fn polls(o: &mut String, i: &Inputs<'_>) {
    let h = i.health;
    family(
        o,
        "sitewarden_polls_total",
        "counter",
        "Device polls attempted.",
    );
    sample(o, "sitewarden_polls_total", "", get(&h.polls) as f64);
    family(
        o,
        "sitewarden_polls_failed_total",
        "counter",
        "Polls that failed wholly or in part.",
    );
    sample(
        o,
        "sitewarden_polls_failed_total",
        "",
        get(&h.poll_errors) as f64,
    );
    family(
        o,
        "sitewarden_poll_errors_total",
        "counter",
        "Failed field requests by kind.",
    );
    for (kind, c) in [
        ("timeout", &h.timeouts),
        ("exception", &h.exceptions),
        ("malformed", &h.malformed),
        ("transport", &h.transport_errors),
    ] {
        sample(
            o,
            "sitewarden_poll_errors_total",
            &format!("kind=\"{kind}\""),
            get(c) as f64,
        );
    }
    family(
        o,
        "sitewarden_field_reconnects_total",
        "counter",
        "Field connections re-opened after a failure.",
    );
    sample(
        o,
        "sitewarden_field_reconnects_total",
        "",
        get(&h.field_reconnects) as f64,
    );
}

/// Polls, failures and whether it is up, per device.
fn device_polls(o: &mut String, i: &Inputs<'_>) {
    family(
        o,
        "sitewarden_device_polls_total",
        "counter",
        "Polls per device since start or reload.",
    );
    for d in &i.snapshot.devices {
        sample(
            o,
            "sitewarden_device_polls_total",
            &device_label(&d.id),
            d.polls as f64,
        );
    }
    family(
        o,
        "sitewarden_device_poll_errors_total",
        "counter",
        "Failed polls per device since start or reload.",
    );
    for d in &i.snapshot.devices {
        sample(
            o,
            "sitewarden_device_poll_errors_total",
            &device_label(&d.id),
            d.errors as f64,
        );
    }
    family(
        o,
        "sitewarden_device_up",
        "gauge",
        "1 when the device's last poll succeeded.",
    );
    for d in &i.snapshot.devices {
        let up = if d.state == "ok" { 1.0 } else { 0.0 };
        sample(o, "sitewarden_device_up", &device_label(&d.id), up);
    }
}

fn latency(o: &mut String, h: &Health) {
    let name = "sitewarden_poll_duration_seconds";
    family(
        o,
        name,
        "histogram",
        "Time a Modbus poll took, all its reads.",
    );
    let (buckets, sum_us) = h.poll_latency.read();
    let mut cumulative = 0;
    for (i, n) in buckets.iter().enumerate() {
        cumulative += n;
        let le = LATENCY_BOUNDS_MS
            .get(i)
            .map_or("+Inf".to_string(), |ms| (*ms as f64 / 1000.0).to_string());
        sample(
            o,
            &format!("{name}_bucket"),
            &format!("le=\"{le}\""),
            cumulative as f64,
        );
    }
    sample(o, &format!("{name}_sum"), "", sum_us as f64 / 1e6);
    sample(o, &format!("{name}_count"), "", cumulative as f64);
}

fn outbox(o: &mut String, stats: &OutboxStats, s: &Snapshot) {
    family(
        o,
        "sitewarden_outbox_pending",
        "gauge",
        "Records awaiting the platform broker's ack, by kind.",
    );
    for k in Kind::ALL {
        sample(
            o,
            "sitewarden_outbox_pending",
            &format!("kind=\"{}\"", k.name()),
            stats.pending.get(k) as f64,
        );
    }
    family(
        o,
        "sitewarden_outbox_pending_bytes",
        "gauge",
        "Payload bytes awaiting the platform broker.",
    );
    sample(
        o,
        "sitewarden_outbox_pending_bytes",
        "",
        stats.payload_bytes as f64,
    );
    family(
        o,
        "sitewarden_outbox_oldest_pending_age_seconds",
        "gauge",
        "Age of the oldest pending record (0 when none).",
    );
    sample(
        o,
        "sitewarden_outbox_oldest_pending_age_seconds",
        "",
        s.uplink.oldest_pending_s.unwrap_or(0) as f64,
    );
    family(
        o,
        "sitewarden_outbox_dropped_total",
        "counter",
        "Records dropped to stay within the outbox bound or a full disk, by kind.",
    );
    for k in Kind::ALL {
        sample(
            o,
            "sitewarden_outbox_dropped_total",
            &format!("kind=\"{}\"", k.name()),
            stats.dropped.get(k) as f64,
        );
    }
}

fn uplink(o: &mut String, h: &Health) {
    let online = h.uplink_online.load(std::sync::atomic::Ordering::Relaxed);
    family(
        o,
        "sitewarden_uplink_up",
        "gauge",
        "1 while the platform broker is connected.",
    );
    sample(
        o,
        "sitewarden_uplink_up",
        "",
        if online { 1.0 } else { 0.0 },
    );
    family(
        o,
        "sitewarden_uplink_reconnects_total",
        "counter",
        "Platform broker connections made after the first.",
    );
    sample(
        o,
        "sitewarden_uplink_reconnects_total",
        "",
        get(&h.uplink_reconnects) as f64,
    );
    family(
        o,
        "sitewarden_messages_published_total",
        "counter",
        "Publishes written to the platform broker (re-sends included).",
    );
    sample(
        o,
        "sitewarden_messages_published_total",
        "",
        get(&h.sent) as f64,
    );
    family(
        o,
        "sitewarden_messages_acked_total",
        "counter",
        "Outbox records the platform broker acknowledged.",
    );
    sample(
        o,
        "sitewarden_messages_acked_total",
        "",
        get(&h.published) as f64,
    );
}

fn alarms(o: &mut String, s: &Snapshot) {
    family(
        o,
        "sitewarden_alarms_active",
        "gauge",
        "Active alarms by severity.",
    );
    for sev in ["info", "warning", "critical"] {
        let n = s.alarms.iter().filter(|a| a.severity == sev).count();
        sample(
            o,
            "sitewarden_alarms_active",
            &format!("severity=\"{sev}\""),
            n as f64,
        );
    }
}

fn process(o: &mut String, i: &Inputs<'_>) {
    if let Some(rss) = i.rss_bytes {
        family(
            o,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
        );
        sample(o, "process_resident_memory_bytes", "", rss as f64);
    }
    if let Some(cpu) = i.cpu_seconds {
        family(
            o,
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
        );
        sample(o, "process_cpu_seconds_total", "", cpu);
    }
    family(
        o,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
    );
    sample(
        o,
        "process_start_time_seconds",
        "",
        i.started_ms as f64 / 1000.0,
    );
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn sample(o: &mut String, name: &str, labels: &str, v: f64) {
    if labels.is_empty() {
        let _ = writeln!(o, "{name} {v}");
    } else {
        let _ = writeln!(o, "{name}{{{labels}}} {v}");
    }
}

fn device_label(id: &str) -> String {
    format!("device=\"{}\"", escape(id))
}

/// A label value: backslash, quote and line feed escaped.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests;
