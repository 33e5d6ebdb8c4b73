//! Gates filling a zone: capacity alarms and the zone windows on `P/zone/{zone}`.

use super::check_event_keys;
use crate::support::platform::{Platform, id, lines};

/// A daily reset twelve hours from now, so no test run crosses it.
fn far_reset() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format!("{:02}:00", (secs / 3600 + 12) % 24)
}

#[test]
fn gates_filling_a_zone_raise_warn_then_critical_and_clear_as_visitors_leave() {
    let extra = format!(
        r#"
[[zone]]
name = "north"
capacity = 10
daily_reset = "{}"

[[rule]]
name = "crowding"
type = "capacity"
zone = "north"
warn = 0.8
critical = 1.0
"#,
        far_reset()
    );
    let p = Platform::start(
        &["gate-1:turnstile@north", "gate-2:turnstile@north"],
        |sim| {
            for (gate, entries, exits) in [("gate-1", 100.0, 40.0), ("gate-2", 500.0, 500.0)] {
                sim.set(gate, "entries", entries);
                sim.set(gate, "exits", exits);
            }
        },
        &extra,
    );
    // Each gate's first reading is its baseline: today's visitors start from there.
    p.wait_polls("gate-1", "1970-01-01T00:00:00Z", 1);
    p.wait_polls("gate-2", "1970-01-01T00:00:00Z", 1);

    // Gate, point, raw value, the alarm event it brings, and which of the events so far
    // are active after it.
    type Step = (
        &'static str,
        &'static str,
        f64,
        &'static str,
        &'static [usize],
    );
    let steps: [Step; 4] = [
        (
            "gate-1",
            "entries",
            108.0,
            "raised crowding north occupancy 8 8",
            &[0],
        ),
        (
            "gate-2",
            "entries",
            502.0,
            "raised crowding north occupancy 10 10",
            &[0, 1],
        ),
        (
            "gate-1",
            "exits",
            42.0,
            "cleared crowding north occupancy 8 10",
            &[0],
        ),
        (
            "gate-2",
            "exits",
            505.0,
            "cleared crowding north occupancy 3 8",
            &[],
        ),
    ];
    let mut expected: Vec<&str> = Vec::new();
    for (gate, point, raw, event, active) in steps {
        p.sim.set(gate, point, raw);
        expected.push(event);
        let ev = p.wait_events(expected.len(), &format!("{gate} {point} {raw}"));
        assert_eq!(lines(&ev), expected);
        let active: Vec<String> = active.iter().map(|&i| id(&ev, i)).collect();
        p.wait_active(&active);
    }
    let ev = p.events();
    assert_eq!(ev.len(), 4);
    let severities: Vec<&str> = ev
        .iter()
        .map(|e| e.json["severity"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(severities, ["warning", "critical", "critical", "warning"]);
    assert_eq!(id(&ev, 2), id(&ev, 1), "critical raised and cleared");
    assert_eq!(id(&ev, 3), id(&ev, 0), "warn raised and cleared");
    assert_eq!(
        ev[0].json["message"],
        "north occupancy 8 at 80% of capacity 10 (warning level 80%)"
    );
    for e in &ev {
        check_event_keys(&e.json);
    }
    println!("capacity raised: {}", ev[1].json);
    println!("capacity cleared: {}", ev[3].json);

    // The zone windows on P/zone/north add up to the visitors who passed.
    let zone = p.topic("zone/north");
    p.until("zone windows with every entry and exit", || {
        let w = p.seen("zone/north");
        let sum = |k: &str| w.iter().filter_map(|s| s.json[k].as_u64()).sum::<u64>();
        sum("entries") == 10 && sum("exits") == 7
    });
    let windows = p.seen("zone/north");
    assert!(windows.iter().all(|w| w.topic == zone));
    // Each window's occupancy is the one before it plus its own entries minus exits:
    // visitors of the next window are not in it yet.
    let mut inside = 0;
    for w in &windows {
        let n = |k: &str| {
            w.json[k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {}", w.json))
        };
        inside = inside + n("entries") - n("exits");
        assert_eq!(n("occupancy"), inside, "{}", w.json);
    }
    let full = windows
        .iter()
        .find(|w| w.json["occupancy"] == 10)
        .expect("a window with the zone full");
    assert_eq!(full.json["capacity"], 10);
    assert_eq!(full.json["utilisation"], 1.0);
    println!("zone window: {}", full.json);
    let last = &windows.last().expect("zone windows").json;
    assert_eq!(last["occupancy"], 3, "{last}");
    assert_eq!(last["utilisation"], 0.3);
}
