use super::proto::{DataType, Metric, Payload, Value};
use super::*;
use crate::uplink::format::Inbound;

fn site() -> Site {
    let text = "[gateway]\nsite = \"s\"\nid = \"g\"\n[uplink]\nbroker = \"mqtt://127.0.0.1\"\nformat = \"sparkplug\"\n[[connection]]\nname = \"lan\"\ntype = \"modbus-tcp\"\naddress = \"127.0.0.1:502\"\n[[device]]\nid = \"th-1\"\nprofile = \"rs485-th\"\nconnection = \"lan\"\nunit = 1\n[[device]]\nid = \"gate-1\"\nprofile = \"turnstile\"\nconnection = \"lan\"\nunit = 2\n[[zone]]\nname = \"north\"\ncapacity = 10\n";
    crate::config::load_from(text, "t.toml", &[], &[]).expect("valid")
}

fn decoded(out: &Out, node: &Node) -> Payload {
    Payload::decode(node.stamp(out).as_slice()).unwrap()
}

fn by_name<'p>(p: &'p Payload, name: &str) -> &'p Metric {
    (p.metrics.iter())
        .find(|m| m.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {p:?}"))
}

#[test]
fn the_birth_and_the_will_carry_the_same_bd_seq_and_the_birth_seq_0() {
    let (site, node) = (site(), Node::default());
    let will = will(&site, &node, 1_000_195, 5);
    assert_eq!(will.topic, "spBv1.0/s/NDEATH/g");
    let death = decoded(&will, &node);
    assert_eq!(death.seq, None, "NDEATH has no seq");
    assert_eq!(
        death.metrics[0].value,
        Some(Value::Long(3)),
        "1000195 % 256"
    );
    let online = br#"{"v":1,"seq":1000194,"ts":"2026-12-03T10:00:00.000Z","state":"online"}"#;
    let birth = outbound(&site, &node, "status", online);
    assert_eq!(birth.topic, "spBv1.0/s/NBIRTH/g");
    let p = decoded(&birth, &node);
    assert_eq!(p.seq, Some(0));
    assert_eq!(by_name(&p, "bdSeq").value, Some(Value::Long(3)));
    assert_eq!(by_name(&p, "bdSeq").datatype, Some(DataType::Int64.code()));
    let rebirth = by_name(&p, "Node Control/Rebirth");
    assert_eq!(rebirth.value, Some(Value::Boolean(false)));
    assert!(by_name(&p, "zone/north/occupancy").alias.is_some());
    assert!(!birth.retain);
}

#[test]
fn seq_follows_the_queue_from_the_birth_and_wraps_after_255() {
    let node = Node::default();
    let data = Out {
        topic: "t".into(),
        payload: Payload::default().encode_to_vec(),
        retain: false,
        stamp: Stamp::Next,
    };
    let birth = Out {
        stamp: Stamp::Birth,
        ..data.clone()
    };
    node.sent(&birth);
    let mut seen = Vec::new();
    for _ in 0..300 {
        seen.push(decoded(&data, &node).seq.unwrap());
        // Stamping alone (a try that found the channel full) takes no number.
        assert_eq!(decoded(&data, &node).seq, seen.last().copied());
        node.sent(&data);
    }
    assert_eq!(seen[0], 1);
    assert_eq!(seen[254], 255);
    assert_eq!(seen[255], 0, "255 wraps to 0");
    assert_eq!(decoded(&birth, &node).seq, Some(0));
    node.sent(&birth);
    assert_eq!(decoded(&data, &node).seq, Some(1), "a rebirth starts again");
}

#[test]
fn a_summary_is_ddata_by_alias_and_the_same_record_the_same_bytes() {
    let (site, node) = (site(), Node::default());
    let s = br#"{"v":1,"seq":6,"ts":"2026-12-03T17:21:32.586Z","device":"th-1","start":"2026-12-03T17:21:31.000Z","end":"2026-12-03T17:21:32.000Z","points":{"temperature":{"kind":"gauge","unit":"C","count":1,"min":20.0,"max":21.0,"mean":20.5,"last":21.0}},"quality":{"polls":1,"errors":0,"last_error":null}}"#;
    let o = outbound(&site, &node, "summary/th-1", s);
    assert_eq!(o.topic, "spBv1.0/s/DDATA/g/th-1");
    assert_eq!(o.stamp, Stamp::Next);
    assert_eq!(outbound(&site, &node, "summary/th-1", s), o, "pure");
    let p = Payload::decode(o.payload.as_slice()).unwrap();
    assert_eq!(p.timestamp, Some(1_796_318_492_000));
    let table = birth::device_metrics(&site, 0);
    let alias = |name: &str| table.iter().find(|d| d.name == name).unwrap().alias;
    let value = |name: &str| {
        (p.metrics.iter().find(|m| m.alias == Some(alias(name)))).and_then(|m| m.value.clone())
    };
    assert_eq!(value("temperature"), Some(Value::Double(21.0)));
    assert_eq!(value("temperature/mean"), Some(Value::Double(20.5)));
    assert_eq!(value("quality/polls"), Some(Value::Long(1)));
    assert!(p.metrics.iter().all(|m| m.name.is_none()), "aliases only");
}

#[test]
fn aliases_are_unique_across_the_node_and_its_devices() {
    let site = site();
    let mut all: Vec<u64> = birth::node_metrics(&site).iter().map(|d| d.alias).collect();
    for d in 0..site.devices.len() {
        all.extend(birth::device_metrics(&site, d).iter().map(|m| m.alias));
    }
    let n = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), n);
    let dbirth = birth::dbirth(&site, 1, 7);
    let open = by_name(&dbirth, "open");
    assert_eq!(open.datatype, Some(DataType::Boolean.code()), "a coil");
    let status = by_name(&dbirth, "status");
    assert_eq!(status.datatype, Some(DataType::Int64.code()));
    assert_eq!(open.is_null, Some(true));
}

#[test]
fn a_dcmd_is_a_command_for_the_command_path_and_an_ncmd_rebirth_a_rebirth() {
    let site = site();
    let table = birth::device_metrics(&site, 1);
    let open = table.iter().find(|d| d.name == "open").unwrap().alias;
    let dcmd = Payload {
        timestamp: Some(1_796_292_000_000),
        metrics: vec![Metric {
            alias: Some(open),
            datatype: Some(DataType::Boolean.code()),
            value: Some(Value::Boolean(true)),
            ..Metric::default()
        }],
        seq: Some(0),
        ..Payload::default()
    };
    let got = incoming(&site, "spBv1.0/s/DCMD/g/gate-1", &dcmd.encode_to_vec());
    let [Inbound::Command(cmd)] = got.as_slice() else {
        panic!("{got:?}");
    };
    let v: serde_json::Value = serde_json::from_slice(cmd).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"id": "sp:gate-1:open:1796292000000", "device": "gate-1",
            "point": "open", "value": true, "expires": "2026-12-03T10:01:00.000Z"})
    );
    let rebirth = Payload {
        timestamp: Some(1),
        metrics: vec![Metric {
            name: Some("Node Control/Rebirth".into()),
            datatype: Some(DataType::Boolean.code()),
            value: Some(Value::Boolean(true)),
            ..Metric::default()
        }],
        ..Payload::default()
    };
    let bytes = rebirth.encode_to_vec();
    assert_eq!(
        incoming(&site, "spBv1.0/s/NCMD/g", &bytes),
        [Inbound::Rebirth]
    );
    assert_eq!(incoming(&site, "spBv1.0/s/NCMD/other", &bytes), []);
    // Not a Sparkplug payload on our command topics: refused (counted, answered), not
    // dropped in silence.
    for topic in ["spBv1.0/s/NCMD/g", "spBv1.0/s/DCMD/g/gate-1"] {
        let got = incoming(&site, topic, b"\xff\xff");
        assert!(
            matches!(got.as_slice(), [Inbound::Unreadable(_)]),
            "{topic}: {got:?}"
        );
    }
    assert_eq!(incoming(&site, "spBv1.0/s/NCMD/other", b"\xff\xff"), []);
}

#[test]
fn a_reload_kills_the_devices_gone_and_births_the_node_again() {
    let (two, node) = (site(), Node::default());
    let text = "[gateway]\nsite = \"s\"\nid = \"g\"\n[uplink]\nbroker = \"mqtt://127.0.0.1\"\nformat = \"sparkplug\"\n[[connection]]\nname = \"lan\"\ntype = \"modbus-tcp\"\naddress = \"127.0.0.1:502\"\n[[device]]\nid = \"th-1\"\nprofile = \"rs485-th\"\nconnection = \"lan\"\nunit = 1\n";
    let one = crate::config::load_from(text, "t.toml", &[], &[]).expect("valid");
    let topics: Vec<String> = (announce(&one, &node, Some(&two), 9).into_iter())
        .map(|o| o.topic)
        .collect();
    assert_eq!(
        topics,
        [
            "spBv1.0/s/DDEATH/g/gate-1",
            "spBv1.0/s/NBIRTH/g",
            "spBv1.0/s/DBIRTH/g/th-1"
        ]
    );
    assert_eq!(
        announce(&two, &node, None, 9).len(),
        2,
        "a DBIRTH per device"
    );
}

#[test]
fn a_record_made_before_the_birth_is_history_and_one_made_after_is_not() {
    let (site, node) = (site(), Node::default());
    let record = |ts: &str| {
        format!(
            r#"{{"v":1,"seq":6,"ts":"{ts}","device":"th-1","start":"2026-12-03T17:21:31.000Z","end":"2026-12-03T17:21:32.000Z","points":{{}},"quality":{{"polls":1,"errors":0,"last_error":null}}}}"#
        )
    };
    let flags = |ts: &str| -> Vec<Option<bool>> {
        let o = outbound(&site, &node, "summary/th-1", record(ts).as_bytes());
        let p = Payload::decode(o.payload.as_slice()).unwrap();
        p.metrics.iter().map(|m| m.is_historical).collect()
    };
    assert_eq!(
        flags("2026-12-03T17:21:32.586Z"),
        [None, None],
        "no birth yet"
    );
    node.sent(&Out {
        topic: String::new(),
        payload: Vec::new(),
        retain: false,
        stamp: Stamp::Birth,
    });
    assert_eq!(flags("2026-12-03T17:21:32.586Z"), [Some(true), Some(true)]);
    assert_eq!(flags("2999-01-01T00:00:00.000Z"), [None, None]);
}

#[test]
fn the_primary_host_s_state_is_read_from_its_json() {
    let text = "[gateway]\nsite = \"s\"\nid = \"g\"\n[uplink]\nbroker = \"mqtt://127.0.0.1\"\nformat = \"sparkplug\"\nprimary_host = \"scada\"\n";
    let site = crate::config::load_from(text, "t.toml", &[], &[]).expect("valid");
    assert!(command_topics(&site).contains(&"spBv1.0/STATE/scada".to_string()));
    let state = |p: &[u8]| incoming(&site, "spBv1.0/STATE/scada", p);
    let on = br#"{"online":true,"timestamp":1668114759262}"#;
    assert_eq!(state(on), [Inbound::HostOnline(true)]);
    assert_eq!(
        state(br#"{"online":false,"timestamp":1}"#),
        [Inbound::HostOnline(false)]
    );
    assert_eq!(state(b"ONLINE"), [Inbound::HostOnline(true)], "a 2.2 host");
    assert_eq!(state(b"OFFLINE"), [Inbound::HostOnline(false)]);
    assert_eq!(
        state(b"{"),
        [Inbound::HostOnline(false)],
        "unreadable: offline"
    );
    assert_eq!(incoming(&site, "spBv1.0/STATE/other", on), []);
}
