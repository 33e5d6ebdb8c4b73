use super::*;
use crate::store::KindCounts;
use std::time::Duration;

#[test]
fn every_family_is_declared_once_and_samples_read_the_counters() {
    let h = Health::new(2);
    crate::health::bump(&h.polls);
    crate::health::bump(&h.timeouts);
    h.poll_latency.record(Duration::from_millis(7));
    h.poll_latency.record(Duration::from_secs(9));
    let stats = OutboxStats {
        pending: KindCounts([1, 2, 0, 0, 0]),
        dropped: KindCounts([0, 5, 0, 0, 0]),
        bytes_on_disk: 4096,
        payload_bytes: 300,
        ..Default::default()
    };
    let snapshot = crate::http::fixture::snapshot();
    let text = render(&Inputs {
        snapshot: &snapshot,
        health: &h,
        outbox: &stats,
        rss_bytes: Some(7_000_000),
        cpu_seconds: Some(1.25),
        started_ms: 1_796_450_400_000,
    });
    for want in [
        "sitewarden_polls_total 1\n",
        "sitewarden_poll_errors_total{kind=\"timeout\"} 1\n",
        "sitewarden_poll_errors_total{kind=\"transport\"} 0\n",
        "sitewarden_device_poll_errors_total{device=\"th-<2>\"} 4\n",
        "sitewarden_device_up{device=\"th-1\"} 1\n",
        "sitewarden_poll_duration_seconds_bucket{le=\"0.005\"} 0\n",
        "sitewarden_poll_duration_seconds_bucket{le=\"0.01\"} 1\n",
        "sitewarden_poll_duration_seconds_bucket{le=\"5\"} 1\n",
        "sitewarden_poll_duration_seconds_bucket{le=\"+Inf\"} 2\n",
        "sitewarden_poll_duration_seconds_sum 9.007\n",
        "sitewarden_poll_duration_seconds_count 2\n",
        "sitewarden_outbox_pending{kind=\"summary\"} 2\n",
        "sitewarden_outbox_pending_bytes 300\n",
        "sitewarden_outbox_oldest_pending_age_seconds 7\n",
        "sitewarden_outbox_dropped_total{kind=\"summary\"} 5\n",
        "sitewarden_alarms_active{severity=\"warning\"} 1\n",
        "sitewarden_alarms_active{severity=\"critical\"} 0\n",
        "sitewarden_store_bytes{store=\"outbox\"} 4096\n",
        "process_resident_memory_bytes 7000000\n",
        "process_cpu_seconds_total 1.25\n",
        "process_start_time_seconds 1796450400\n",
        "# TYPE sitewarden_poll_duration_seconds histogram\n",
    ] {
        assert!(text.contains(want), "`{want}` in:\n{text}");
    }
    // Each family's HELP and TYPE once, before its samples.
    let mut declared = std::collections::HashSet::new();
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let name = line.split(' ').nth(2).unwrap();
        assert!(declared.insert(name.to_string()), "{name} declared twice");
    }
    assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}
