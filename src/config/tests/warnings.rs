//! `check`'s warnings: a profile that loads but whose addresses look 1-based, each case
//! with the warning it must give (or none).

use super::{BASE, load_from};

/// The base site with `turnstile` replaced by a site profile holding `points`.
fn warnings_for(points: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("turnstile.toml"), points).unwrap();
    let site = load_from(BASE, "sitewarden.toml", &[], &[dir.path().to_path_buf()])
        .unwrap_or_else(|e| panic!("{e}\n{points}"));
    crate::config::warnings(&site)
}

fn point(name: &str, table: &str, address: u32, ty: &str) -> String {
    format!(
        "[[point]]\nname = \"{name}\"\ntable = \"{table}\"\naddress = {address}\ntype = \"{ty}\"\nkind = \"gauge\"\n"
    )
}

#[rustfmt::skip]
const CASES: &[(&str, &str, u32, &str, Option<&str>)] = &[
    // (point, table, address, type, warning part or None)
    ("level", "holding", 40001, "u16", Some("point `level`: holding address 40001 looks like \"4xxxx\" register numbering, which starts at 40001; the protocol address is probably 0 (40001 - 40001)")),
    ("level", "holding", 40123, "f32", Some("the protocol address is probably 122 (40123 - 40001)")),
    ("level", "holding", 40000, "u16", None),
    ("level", "input", 30001, "u16", Some("input address 30001 looks like \"3xxxx\" register numbering, which starts at 30001; the protocol address is probably 0")),
    ("level", "input", 40001, "u16", None),
    ("level", "holding", 12, "u16", None),
    // The shipped turnstile documents entries at input 0 and status at input 4.
    ("entries", "input", 1, "u32", Some("point `entries`: input address 1 is one above the shipped profile's 0 for this point; if the manual counts registers from 1, the protocol address is 0")),
    ("status", "input", 5, "u16", Some("one above the shipped profile's 4")),
    ("status", "input", 4, "u16", None),
    ("status", "holding", 5, "u16", None),
];

#[test]
fn one_based_looking_addresses_are_warned_with_the_likely_address() {
    for &(name, table, address, ty, want) in CASES {
        let got = warnings_for(&point(name, table, address, ty));
        match want {
            Some(part) => {
                assert_eq!(got.len(), 1, "{name} {table} {address}: {got:?}");
                assert!(
                    got[0].starts_with("profile `turnstile`, point "),
                    "{}",
                    got[0]
                );
                assert!(
                    got[0].contains(part),
                    "{name} {table} {address}: {}",
                    got[0]
                );
            }
            None => assert!(got.is_empty(), "{name} {table} {address}: {got:?}"),
        }
    }
}

#[test]
fn the_shipped_profiles_give_no_warning() {
    let site = load_from(BASE, "sitewarden.toml", &[], &[]).unwrap();
    assert_eq!(crate::config::warnings(&site), Vec::<String>::new());
}

#[test]
fn two_connections_to_one_converter_are_warned_about() {
    let text = format!(
        "{BASE}\n[[connection]]\nname = \"lan-2\"\ntype = \"modbus-rtu-over-tcp\"\naddress = \"127.0.0.1\"\n"
    );
    let site = load_from(&text, "sitewarden.toml", &[], &[]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        crate::config::warnings(&site),
        vec![
            "connections `lan` and `lan-2` both reach 127.0.0.1:502: the converter behind it gets \
             their requests at the same time; put its devices on one connection so that its bus \
             has one request in flight"
                .to_string()
        ]
    );
}

#[test]
fn two_devices_on_one_connection_and_unit_are_warned_about() {
    let text = BASE.replacen("unit = 2", "unit = 1", 1);
    assert_ne!(text, BASE, "the base site has a unit 2");
    let site = load_from(&text, "sitewarden.toml", &[], &[]).unwrap_or_else(|e| panic!("{e}"));
    let got = crate::config::warnings(&site);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].contains("unit 1 on connection `lan` is also device `gate-1`"),
        "{}",
        got[0]
    );
}

#[test]
fn http_open_to_the_network_without_a_password_is_warned() {
    let warned = |http: &str| {
        let site = load_from(
            &format!("{BASE}\n[http]\n{http}"),
            "sitewarden.toml",
            &[],
            &[],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ws = crate::config::warnings(&site);
        ws.into_iter()
            .filter(|w| w.starts_with("http."))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        warned("listen = \"0.0.0.0:9410\"\n"),
        [format!(
            "http.listen 0.0.0.0:9410: {}",
            crate::config::HTTP_OPEN_WARNING
        )]
    );
    assert!(warned("listen = \"127.0.0.1:9410\"\n").is_empty());
    assert!(warned("listen = \"[::1]:9410\"\n").is_empty());
    assert!(warned("listen = \"0.0.0.0:9410\"\npassword_file = \"/p\"\n").is_empty());
    // Absent: no endpoint at all.
    let site = load_from(BASE, "sitewarden.toml", &[], &[]).unwrap();
    assert_eq!(site.http, None);
}

#[test]
fn a_round_longer_than_the_gap_between_starts_is_warned() {
    let site = |schedule: &str| {
        let text = format!(
            "{BASE}\n[[device]]\nid = \"cp-1\"\nprofile = \"tag-reader\"\nconnection = \"lan\"\nunit = 9\n\n[[patrol]]\nname = \"night\"\ncheckpoints = [\"cp-1\"]\nschedule = {schedule}\nleg = \"10m\"\nround = \"1h\"\ntags = [1001]\n"
        );
        load_from(&text, "sitewarden.toml", &[], &[]).unwrap_or_else(|e| panic!("{e}"))
    };
    let w = crate::config::warnings(&site("\"every 30m from 20:00 to 06:00\""));
    assert_eq!(
        w,
        [
            "patrol `night`: a round may take 1h but rounds start as little as 30m apart; the next start ends a round still under way"
        ]
    );
    // Over midnight: 23:30 and 00:10 are 40 minutes apart.
    let w = crate::config::warnings(&site("[\"00:10\", \"12:00\", \"23:30\"]"));
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("40m apart"), "{w:?}");
    assert!(crate::config::warnings(&site("\"every 2h from 20:00 to 06:00\"")).is_empty());
}
