//! Devices misbehaving, played by pymodbus: exception answers, a unit id nobody has,
//! answers just inside and just outside the timeout, and replies garbled on the way. Each
//! fault is reported as what it is, and the healthy units beside it keep their rate.

use sitewarden::health::get;
use sitewarden::reading::{PollError, Sample};
use sitewarden::site::Site;
use sitewarden::source::modbus::read_once;

use super::fixture::{
    FAILING, Polling, PtyPair, Pymodbus, RS485_TH, SILENT, SLOW, TURNSTILE, assert_expected,
    bounded, device, rtu, site, tcp, values,
};
use super::proxy::{Garbler, garble_rtu};

/// pymodbus's slow unit answers after this long.
pub(super) const SLOW_MS: u64 = 200;

/// Every point's error in one `read_once` of a device, and the requests it took.
async fn errors_of(site: &Site, index: usize) -> (Vec<Option<PollError>>, usize) {
    let got = read_once(&site.connections[0].kind, &site.devices[index])
        .await
        .expect("the link opens");
    let errors = got.points.into_iter().map(|p| p.error).collect();
    (errors, got.requests)
}

#[test]
fn exceptions_and_silence_are_told_apart_and_named() {
    let server = Pymodbus::tcp(SLOW_MS);
    let site = site(
        &[
            tcp("gw", &server.address, "150ms"),
            // rs485-th's unit has no input registers, discretes or coils.
            device("wrong-map", "turnstile", "gw", RS485_TH, "1s"),
            device("failing", "rs485-th", "gw", FAILING, "1s"),
            device("nobody", "rs485-th", "gw", SILENT, "1s"),
        ]
        .concat(),
    );
    bounded(async {
        // (device, error of every point, requests sent)
        let cases = [
            (0, PollError::Exception(0x02), 3),
            (1, PollError::Exception(0x04), 1),
            // The first read times out and the rest are not asked.
            (2, PollError::Timeout, 1),
        ];
        for (index, error, requests) in cases {
            let (errors, sent) = errors_of(&site, index).await;
            let id = &site.devices[index].id;
            assert!(
                errors.iter().all(|e| e.as_ref() == Some(&error)),
                "{id}: {errors:?}"
            );
            assert_eq!(sent, requests, "{id}: requests");
        }
        assert_eq!(
            PollError::Exception(0x02).to_string(),
            "exception 0x02 (illegal data address)"
        );
        assert_eq!(
            PollError::Exception(0x04).to_string(),
            "exception 0x04 (server device failure)"
        );
    });
}

#[test]
fn a_slow_answer_just_under_the_timeout_is_read_and_just_over_is_not() {
    let server = Pymodbus::tcp(SLOW_MS);
    // (timeout, error expected): the unit answers after 200 ms.
    let cases = [("300ms", None), ("120ms", Some(PollError::Timeout))];
    for (timeout, want) in cases {
        let site = site(
            &[
                tcp("gw", &server.address, timeout),
                device("slow", "rs485-th", "gw", SLOW, "1s"),
            ]
            .concat(),
        );
        let (errors, _) = bounded(errors_of(&site, 0));
        assert!(
            errors.iter().all(|e| *e == want),
            "timeout {timeout}: {errors:?}"
        );
    }
}

#[test]
fn a_gateway_reporting_a_dead_unit_gets_it_rested_like_silence() {
    // A TCP-to-RTU gateway answers for a dead unit with 0x0B after waiting out its own
    // timeout on the bus behind it: asking again every tick would cost that bus dearly.
    let server = Pymodbus::tcp_gateway(SLOW_MS);
    let site = site(
        &[
            tcp("gw", &server.address, "300ms"),
            device("dead", "turnstile", "gw", SILENT, "200ms"),
            device("th", "rs485-th", "gw", RS485_TH, "200ms"),
        ]
        .concat(),
    );
    bounded(async {
        // Not asked the rest of the poll once the gateway said so.
        let (errors, requests) = errors_of(&site, 0).await;
        assert!(
            errors
                .iter()
                .all(|e| *e == Some(PollError::Exception(0x0B))),
            "{errors:?}"
        );
        assert_eq!(requests, 1);

        let mut polling = Polling::start(&site, 0);
        polling
            .until("twelve samples of the live unit", |s| {
                s.iter().filter(|s| s.device == 1).count() >= 12
            })
            .await;
        let dead = polling.of(0);
        assert!(
            dead.iter()
                .all(|s| s.error == Some(PollError::Exception(0x0B))),
            "{dead:?}"
        );
        // Rested 1, 2, 4, 8 ticks: at most five tries in twelve ticks.
        assert!(
            (1..=5).contains(&dead.len()),
            "{} tries of a dead unit",
            dead.len()
        );
        assert_eq!(
            get(&polling.health.exceptions),
            dead.len() as u64,
            "one request each"
        );
        assert!(polling.of(1).iter().all(|s| s.error.is_none()));
        polling.stop().await;
    });
}

/// Faulty units first, so every sweep meets them before the healthy ones.
pub(super) fn mixed_bus(connection: String, name: &str) -> Site {
    let mut t = connection;
    for (id, profile, unit) in [
        ("nobody", "rs485-th", SILENT),
        ("slow", "rs485-th", SLOW),
        ("wrong-map", "turnstile", RS485_TH),
        ("failing", "rs485-th", FAILING),
        ("gate", "turnstile", TURNSTILE),
        ("th", "rs485-th", RS485_TH),
        ("kiosk", "fever-kiosk", super::fixture::FEVER_KIOSK),
        ("level", "water-level", super::fixture::WATER_LEVEL),
    ] {
        t.push_str(&device(id, profile, name, unit, "1s"));
    }
    site(&t)
}

/// The healthy devices (indexes 4..8) answer every tick with the right values while the
/// faulty ones fail as themselves, and no answer is taken for another's.
pub(super) async fn healthy_units_keep_their_rate(site: &Site, how: &str) {
    const HEALTHY: [usize; 4] = [4, 5, 6, 7];
    const SAMPLES: usize = 4;
    let mut polling = Polling::start(site, 0);
    polling
        .until("four samples of every healthy device", |s| {
            HEALTHY
                .iter()
                .all(|&i| s.iter().filter(|s| s.device == i).count() >= SAMPLES)
        })
        .await;
    for i in HEALTHY {
        let d = &site.devices[i];
        let samples = polling.of(i);
        for s in &samples {
            assert_eq!(s.error, None, "{how}: {} at {}", d.id, s.ts);
            assert_expected(&d.profile, &values(site, s), how);
        }
        let ticks: Vec<i64> = samples.iter().map(|s| s.ts).collect();
        assert!(
            ticks.windows(2).all(|w| w[1] - w[0] == 1000),
            "{how}: {} skipped a tick: {ticks:?}",
            d.id
        );
    }
    let errors = |i: usize| -> Vec<Option<PollError>> {
        polling
            .of(i)
            .iter()
            .map(|s: &&Sample| s.error.clone())
            .collect()
    };
    for (i, want) in [
        (0, PollError::Timeout),
        (1, PollError::Timeout),
        (2, PollError::Exception(0x02)),
        (3, PollError::Exception(0x04)),
    ] {
        let got = errors(i);
        assert!(!got.is_empty(), "{how}: {} was polled", site.devices[i].id);
        assert!(
            got.iter().all(|e| e.as_ref() == Some(&want)),
            "{how}: {} {got:?}",
            site.devices[i].id
        );
    }
    // Exceptions are answers: the unit is asked every tick. Silence earns a rest.
    assert!(
        errors(2).len() >= SAMPLES,
        "{how}: exceptions do not rest a unit"
    );
    assert!(errors(0).len() < SAMPLES, "{how}: a silent unit is rested");
    assert_eq!(
        get(&polling.health.malformed),
        0,
        "{how}: no answer was misread"
    );
    assert!(
        get(&polling.health.timeouts) >= 2,
        "{how}: timeouts counted"
    );
    assert!(
        get(&polling.health.exceptions) >= 2 * SAMPLES as u64,
        "{how}: exceptions counted"
    );
    polling.stop().await;
}

#[test]
fn dead_slow_and_refusing_units_do_not_cost_the_others_their_rate_over_tcp() {
    let server = Pymodbus::tcp(SLOW_MS);
    let site = mixed_bus(tcp("gw", &server.address, "100ms"), "gw");
    bounded(healthy_units_keep_their_rate(&site, "tcp"));
}

#[test]
fn dead_slow_and_refusing_units_do_not_cost_the_others_their_rate_over_rtu() {
    // The slow unit's late answer crosses the bus after our timeout: the link must wait
    // for silence and drop it, or the next unit would be credited with it.
    let bus = PtyPair::open();
    let _server = Pymodbus::rtu(&bus.device, SLOW_MS);
    let site = mixed_bus(rtu("bus", &bus.gateway, "100ms"), "bus");
    bounded(healthy_units_keep_their_rate(&site, "rtu"));
}

#[test]
fn a_garbled_reply_is_counted_malformed_and_the_connection_recovers() {
    let server = Pymodbus::tcp(SLOW_MS);
    bounded(async {
        // A sweep is four replies (three for the turnstile, one for the thermometer).
        // Replies 3, 8 and 10 get a flipped protocol id, function code and byte count.
        let flips = [(3, 2), (8, 7), (10, 8)];
        let proxy = Garbler::start(&server.address, &flips).await;
        let site = site(
            &[
                tcp("gw", &proxy.address, "500ms"),
                device("gate", "turnstile", "gw", TURNSTILE, "200ms"),
                device("th", "rs485-th", "gw", RS485_TH, "200ms"),
            ]
            .concat(),
        );
        let mut polling = Polling::start(&site, 0);
        polling
            .until("eight samples of each device", |s| {
                (0..2).all(|i| s.iter().filter(|s| s.device == i).count() >= 8)
            })
            .await;
        assert!(proxy.replies() >= 10, "every garbled reply was sent");
        let failed: Vec<&Sample> = polling
            .samples
            .iter()
            .filter(|s| s.error.is_some())
            .collect();
        assert_eq!(
            failed.len(),
            flips.len(),
            "one failed poll per garbled reply: {failed:?}"
        );
        let hit: std::collections::BTreeSet<usize> = failed.iter().map(|s| s.device).collect();
        assert_eq!(hit.len(), 2, "both units had a garbled reply: {failed:?}");
        assert!(
            failed
                .iter()
                .all(|s| matches!(s.error, Some(PollError::Malformed(_)))),
            "{failed:?}"
        );
        assert_eq!(get(&polling.health.malformed), flips.len() as u64);
        // Two of the three put the stream out of step: the socket was replaced.
        assert!(get(&polling.health.field_reconnects) >= 2);
        for (i, d) in site.devices.iter().enumerate() {
            let samples = polling.of(i);
            let ticks: Vec<i64> = samples.iter().map(|s| s.ts).collect();
            assert!(
                ticks.windows(2).all(|w| w[1] - w[0] == 200),
                "{} skipped a tick: {ticks:?}",
                d.id
            );
            let last = samples.last().expect("samples");
            assert_eq!(last.error, None, "{} recovered", d.id);
            assert_expected(&d.profile, &values(&site, last), "after garbling");
        }
        polling.stop().await;
    });
}

#[test]
fn a_garbled_rtu_answer_fails_its_crc_and_the_bus_goes_on() {
    // sitewarden ─ pty pair ─ garbling relay ─ pty pair ─ pymodbus
    let near = PtyPair::open();
    let far = PtyPair::open();
    let _server = Pymodbus::rtu(&far.device, SLOW_MS);
    // A sweep is four answers (three for the turnstile, one for the thermometer).
    // Answers 3 and 8 get a data byte flipped: only the CRC can tell.
    let flips = [(3, 3), (8, 4)];
    garble_rtu(&near.device, &far.gateway, &flips);
    let site = site(
        &[
            rtu("bus", &near.gateway, "200ms"),
            device("gate", "turnstile", "bus", TURNSTILE, "500ms"),
            device("th", "rs485-th", "bus", RS485_TH, "500ms"),
        ]
        .concat(),
    );
    bounded(async {
        let mut polling = Polling::start(&site, 0);
        polling
            .until("six samples of each device", |s| {
                (0..2).all(|i| s.iter().filter(|s| s.device == i).count() >= 6)
            })
            .await;
        let failed: Vec<&Sample> = polling
            .samples
            .iter()
            .filter(|s| s.error.is_some())
            .collect();
        assert_eq!(
            failed.len(),
            flips.len(),
            "one failed poll per garbled answer: {failed:?}"
        );
        let hit: std::collections::BTreeSet<usize> = failed.iter().map(|s| s.device).collect();
        assert_eq!(hit.len(), 2, "both units had a garbled answer: {failed:?}");
        for s in &failed {
            assert!(
                matches!(&s.error, Some(PollError::Malformed(m)) if m.starts_with("crc")),
                "{s:?}"
            );
        }
        assert_eq!(get(&polling.health.malformed), flips.len() as u64);
        assert_eq!(get(&polling.health.timeouts), 0);
        for (i, d) in site.devices.iter().enumerate() {
            let samples = polling.of(i);
            let ticks: Vec<i64> = samples.iter().map(|s| s.ts).collect();
            assert!(
                ticks.windows(2).all(|w| w[1] - w[0] == 500),
                "{} skipped a tick: {ticks:?}",
                d.id
            );
            let last = samples.last().expect("samples");
            assert_eq!(last.error, None, "{} recovered", d.id);
            assert_expected(&d.profile, &values(&site, last), "after a bad crc");
        }
        polling.stop().await;
    });
}
