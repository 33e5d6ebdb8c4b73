use super::*;

/// Milliseconds of an RFC 3339 instant with its offset.
fn at(s: &str) -> Ms {
    s.parse::<Timestamp>()
        .expect("test instant")
        .as_millisecond()
}

fn shanghai() -> LocalZone {
    LocalZone::named("Asia/Shanghai").expect("bundled zone")
}

fn night() -> Active {
    Active {
        spans: vec![Span::parse("22:00-06:00").expect("span")],
        ..Active::default()
    }
}

#[test]
fn local_time_in_shanghai_is_eight_hours_ahead_all_year() {
    let z = shanghai();
    let l = z.local(at("2026-12-03T14:30:00Z"));
    assert_eq!(l.date.to_string(), "2026-12-03");
    assert_eq!(l.secs, 22 * 3600 + 30 * 60);
    assert_eq!(z.offset_secs(at("2026-07-01T00:00:00Z")), 8 * 3600);
    assert_eq!(z.format(at("2026-12-03T16:05:00Z")), "2026-12-04 00:05");
}

#[test]
fn berlin_keeps_daylight_saving() {
    let z = LocalZone::named("Europe/Berlin").expect("bundled zone");
    assert_eq!(z.offset_secs(at("2026-01-15T12:00:00Z")), 3600);
    assert_eq!(z.offset_secs(at("2026-07-15T12:00:00Z")), 7200);
    // 2026-03-29: 02:00 local jumps to 03:00; 00:59:59Z is 01:59:59 CET, 01:00Z is 03:00 CEST.
    assert_eq!(z.local(at("2026-03-29T00:59:59Z")).secs, 3600 + 3599);
    assert_eq!(z.local(at("2026-03-29T01:00:00Z")).secs, 3 * 3600);
}

#[test]
fn zone_names_are_checked() {
    assert!(LocalZone::named("Asia/Shanghai").is_ok());
    assert!(LocalZone::named("UTC").is_ok());
    let e = LocalZone::named("Asia/Shanghia").unwrap_err();
    assert!(e.contains("Asia/Shanghia"), "{e}");
    assert!(LocalZone::named("CST").is_err());
    assert!(LocalZone::named("+08:00").is_err());
}

#[test]
fn a_night_window_holds_from_22_to_06_local() {
    let z = shanghai();
    let a = night();
    let cases = [
        ("2026-12-03T21:30:00+08:00", false),
        ("2026-12-03T21:59:59+08:00", false),
        ("2026-12-03T22:00:00+08:00", true),
        ("2026-12-03T22:30:00+08:00", true),
        ("2026-12-04T00:00:00+08:00", true),
        ("2026-12-04T05:59:59+08:00", true),
        ("2026-12-04T06:00:00+08:00", false),
        ("2026-12-04T12:00:00+08:00", false),
    ];
    for (t, want) in cases {
        assert_eq!(a.contains(z.local(at(t))), want, "{t}");
    }
}

#[test]
fn days_and_dates_apply_to_the_day_a_night_starts() {
    let z = shanghai();
    // Friday and Saturday nights only. 2026-12-04 is a Friday.
    let weekend = Active {
        days: vec![parse_day("fri").unwrap(), parse_day("sat").unwrap()],
        ..night()
    };
    let cases = [
        ("2026-12-03T23:00:00+08:00", false), // Thursday night
        ("2026-12-04T02:00:00+08:00", false), // still Thursday's night
        ("2026-12-04T23:00:00+08:00", true),  // Friday night
        ("2026-12-05T02:00:00+08:00", true),  // Friday's night, Saturday morning
        ("2026-12-06T02:00:00+08:00", true),  // Saturday's night
        ("2026-12-06T23:00:00+08:00", false), // Sunday night
    ];
    for (t, want) in cases {
        assert_eq!(weekend.contains(z.local(at(t))), want, "{t}");
    }
    let holidays = Active {
        dates: vec![
            parse_date("2026-10-01").unwrap(),
            parse_date("2026-10-02").unwrap(),
        ],
        dates_name: Some("holidays".into()),
        ..Active::default()
    };
    assert!(holidays.contains(z.local(at("2026-10-01T09:00:00+08:00"))));
    assert!(holidays.contains(z.local(at("2026-10-02T23:59:00+08:00"))));
    assert!(!holidays.contains(z.local(at("2026-10-03T00:00:00+08:00"))));
    let except = Active {
        except: vec![parse_date("2026-12-24").unwrap()],
        ..night()
    };
    assert!(!except.contains(z.local(at("2026-12-24T23:00:00+08:00"))));
    assert!(except.contains(z.local(at("2026-12-25T23:00:00+08:00"))));
}

#[test]
fn a_window_follows_local_time_across_a_daylight_saving_change() {
    let z = LocalZone::named("Europe/Berlin").expect("bundled zone");
    let a = night();
    // 22:30 local is 21:30Z in winter and 20:30Z in summer.
    assert!(a.contains(z.local(at("2026-01-10T21:30:00Z"))));
    assert!(!a.contains(z.local(at("2026-07-10T19:30:00Z"))));
    assert!(a.contains(z.local(at("2026-07-10T20:30:00Z"))));
    assert!(!a.contains(z.local(at("2026-01-10T20:30:00Z"))));
}

#[test]
fn next_at_finds_the_next_local_time_also_over_a_gap() {
    let z = LocalZone::named("Europe/Berlin").expect("bundled zone");
    let after = at("2026-03-28T12:00:00Z");
    assert_eq!(z.next_at(after, 4 * 3600), at("2026-03-29T04:00:00+02:00"));
    // 02:30 does not exist on 2026-03-29: it moves forward by the jump.
    let t = z.next_at(at("2026-03-28T12:00:00Z"), 2 * 3600 + 1800);
    assert_eq!(t, at("2026-03-29T03:30:00+02:00"), "{}", z.format(t));
}

#[test]
fn spans_and_dates_are_spelled_strictly() {
    assert_eq!(
        Span::parse("22:00-06:00").unwrap(),
        Span {
            from: 79_200,
            to: 21_600
        }
    );
    assert_eq!(Span::parse("08:00-24:00").unwrap().to, 86_400);
    for bad in ["22-06", "22:00", "25:00-06:00", "22:00-22:00", "2:00-06:00"] {
        assert!(Span::parse(bad).is_err(), "{bad}");
    }
    assert!(parse_date("2026-10-01").is_ok());
    for bad in ["2026-13-01", "2026-1-01", "01.10.2026"] {
        assert!(parse_date(bad).is_err(), "{bad}");
    }
    assert_eq!(parse_day("sun"), Some(7));
    assert_eq!(parse_day("Sunday"), None);
}

#[test]
fn last_at_finds_the_latest_reset_also_across_daylight_saving() {
    let z = LocalZone::named("Europe/Berlin").expect("bundled zone");
    let four = 4 * 3600;
    assert_eq!(
        z.last_at(at("2026-03-29T10:00:00+02:00"), four),
        at("2026-03-29T04:00:00+02:00")
    );
    assert_eq!(
        z.last_at(at("2026-03-29T03:59:00+02:00"), four),
        at("2026-03-28T04:00:00+01:00")
    );
    assert_eq!(
        z.last_at(at("2026-03-29T04:00:00+02:00"), four),
        at("2026-03-29T04:00:00+02:00")
    );
    // The day of the change is 23 hours long.
    let a = z.last_at(at("2026-03-29T12:00:00+02:00"), 0);
    let b = z.last_at(at("2026-03-30T12:00:00+02:00"), 0);
    assert_eq!(b - a, 23 * 3_600_000);
    let c = z.last_at(at("2026-03-28T12:00:00+01:00"), 0);
    assert_eq!(a - c, 24 * 3_600_000);
}
