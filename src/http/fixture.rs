//! A status snapshot for the page and metrics tests.

use crate::status::snapshot::{AlarmRow, DeviceRow, Snapshot, UplinkRow, ValueRow, ZoneRow};

pub(crate) fn snapshot() -> Snapshot {
    let device = |id: &str, state: &str, polls, errors| DeviceRow {
        id: id.into(),
        profile: "rs485-th".into(),
        connection: "bus-1".into(),
        state: state.into(),
        last_poll: Some("2026-12-05T06:00:00.000Z".into()),
        last_poll_age_s: Some(0.4),
        polls,
        errors,
        last_error: (errors > 0).then(|| "timeout: the device did not answer in time".into()),
        last_error_at: (errors > 0).then(|| "2026-12-05T06:00:00.000Z".into()),
        values: vec![ValueRow {
            point: "temperature".into(),
            value: Some(35.5),
            unit: Some("°C".into()),
            text: None,
        }],
    };
    Snapshot {
        verdict: "degraded".into(),
        reasons: vec!["1 of 2 devices failing: th-<2>".into()],
        site: "test".into(),
        gateway: "gw-1".into(),
        version: "0.1.0".into(),
        now: "2026-12-05T06:00:01.000Z".into(),
        uptime_s: 3725,
        devices: vec![
            device("th-1", "ok", 10, 0),
            device("th-<2>", "failing", 10, 4),
        ],
        alarms: vec![AlarmRow {
            rule: "hot".into(),
            device: "th-1".into(),
            point: Some("temperature".into()),
            severity: "warning".into(),
            value: 35.5,
            limit: 30.0,
            message: "temperature 35.5 above 30".into(),
            raised_at: "2026-12-05T05:59:00.000Z".into(),
        }],
        zones: vec![ZoneRow {
            zone: "north".into(),
            occupancy: 12,
            capacity: 100,
        }],
        uplink: UplinkRow {
            broker: "mqtt://127.0.0.1:1883".into(),
            state: "online".into(),
            problem: None,
            backlog: 3,
            backlog_alarms: 1,
            oldest_pending_s: Some(7),
            published: 42,
            reconnects: 0,
        },
    }
}
