use super::*;

#[test]
fn the_page_shows_devices_alarms_zones_and_uplink_escaped_and_refreshing() {
    let html = render(&crate::http::fixture::snapshot());
    for want in [
        "<meta http-equiv=\"refresh\" content=\"5\">",
        "name=\"viewport\"",
        "class=\"verdict degraded\"",
        "<tr class=\"device ok\" data-device=\"th-1\">",
        // A device id is text, never markup.
        "<tr class=\"device failing\" data-device=\"th-&lt;2&gt;\">",
        "temperature 35.5 °C",
        "timeout: the device did not answer in time",
        "<tr class=\"alarm\" data-rule=\"hot\"><td class=\"warning\">warning</td>",
        "th-1.temperature",
        "north</td><td>12 of 100",
        "online (mqtt://127.0.0.1:1883)",
        "backlog 3 (1 alarms), oldest pending 7 s",
        "up 1 h 2 min",
    ] {
        assert!(html.contains(want), "`{want}` in:\n{html}");
    }
    assert!(!html.contains("<script"), "no script");
    assert!(!html.contains("th-<2>"));
}
