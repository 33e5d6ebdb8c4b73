//! Profile files: each mistake in a `[[point]]` map, reported against the profile's own
//! file, line and key path; and a broken profile surfacing through the site that uses it.

use std::path::Path;

use super::{BASE, line_of};
use crate::config::{load_from, load_profile};
use crate::site::{ByteOrder, PointKind, PointSource, PointType};

/// Writes `text` as `<dir>/p.toml` and loads profile `p` from `dir`.
fn load_in(dir: &Path, text: &str) -> Result<Vec<crate::site::Point>, crate::config::ConfigErrors> {
    std::fs::write(dir.join("p.toml"), text).unwrap();
    load_profile("p", &[dir.to_path_buf()])
}

const HEAD: &str = "[[point]]\nname = \"x\"\nkind = \"gauge\"\n";

#[rustfmt::skip]
const CASES: &[(&str, &str, &str, &str, &str)] = &[
    // (what, point keys after HEAD, key path, text on the error's line, message part)
    ("u32 in a coil table", "table = \"coil\"\naddress = 0\ntype = \"u32\"\n",
        "point[0].type", "u32", "type u32 does not fit a coil table, which holds bool only"),
    ("bool in a holding table", "table = \"holding\"\naddress = 0\ntype = \"bool\"\n",
        "point[0].type", "bool", "type bool does not fit a holding table, use a coil or discrete table, or `bit = N`"),
    ("registers past 65535", "table = \"holding\"\naddress = 65535\ntype = \"u32\"\n",
        "point[0].address", "65535", "u32 at 65535 runs to 65536, past the last address 65535"),
    ("address out of range", "table = \"holding\"\naddress = 70000\ntype = \"u16\"\n",
        "point[0].address", "70000", "70000 is out of range 0..=65535"),
    ("writable input register", "table = \"input\"\naddress = 0\ntype = \"u16\"\nwritable = true\n",
        "point[0].writable", "writable", "a input table is read-only"),
    ("misspelt key", "table = \"input\"\naddress = 0\ntype = \"u16\"\nsacle = 0.1\n",
        "point[0].sacle", "sacle", "unknown key `sacle` (did you mean `scale`?)"),
    ("misspelt table", "table = \"holdings\"\naddress = 0\ntype = \"u16\"\n",
        "point[0].table", "holdings", "unknown table `holdings` (did you mean `holding`?)"),
    ("unknown byte order", "table = \"input\"\naddress = 0\ntype = \"u32\"\nword_order = \"dbca\"\n",
        "point[0].word_order", "dbca", "unknown byte order `dbca`, expected ABCD, BADC, CDAB or DCBA"),
    ("eight letters on a 32-bit value", "table = \"input\"\naddress = 0\ntype = \"u32\"\nbyte_order = \"EFGHABCD\"\n",
        "point[0].byte_order", "EFGHABCD", "order of 8 bytes, but u32 spans 2 register(s)"),
    ("byte_order and word_order both", "table = \"input\"\naddress = 0\ntype = \"u32\"\nbyte_order = \"ABCD\"\nword_order = \"CDAB\"\n",
        "point[0].word_order", "CDAB", "give `byte_order` or `word_order`, not both"),
    ("bit in a coil table", "table = \"coil\"\naddress = 0\nbit = 3\n",
        "point[0].bit", "bit", "a coil table already holds single bits"),
    ("bit past 15", "table = \"holding\"\naddress = 0\nbit = 16\n",
        "point[0].bit", "16", "16 is out of range 0..=15"),
    ("bit of a u32", "table = \"holding\"\naddress = 0\nbit = 3\ntype = \"u32\"\n",
        "point[0].type", "u32", "a `bit` point is a bool, not u32"),
    ("writable bit", "table = \"holding\"\naddress = 0\nbit = 3\nwritable = true\n",
        "point[0].writable", "writable", "a bit inside a register cannot be written on its own"),
    ("scale of zero", "table = \"input\"\naddress = 0\ntype = \"u16\"\nscale = 0\n",
        "point[0].scale", "scale", "scale must not be 0"),
    ("json pointer on a modbus point", "table = \"input\"\naddress = 0\ntype = \"u16\"\npointer = \"/x\"\n",
        "point[0].pointer", "pointer", "`pointer` does not apply to a Modbus point"),
    ("labels on a gauge", "table = \"input\"\naddress = 0\ntype = \"u16\"\nlabels = { 0 = \"a\" }\n",
        "point[0].labels", "labels", "`labels` applies to a state point only"),
    ("modbus point without a table", "address = 0\ntype = \"u16\"\n",
        "point[0].table", "[[point]]", "missing key `table`"),
    ("registers on a number", "table = \"holding\"\naddress = 0\ntype = \"u16\"\nregisters = 2\n",
        "point[0].registers", "registers", "`registers` applies to a string point only (type = \"string\"); u16 spans 1"),
    ("a string of kind gauge", "table = \"holding\"\naddress = 0\ntype = \"string\"\nregisters = 4\n",
        "point[0].kind", "gauge", "a string point holds text: write kind = \"text\", not gauge"),
];

/// A text point's head: string mistakes are made on points of kind text.
const TEXT_HEAD: &str = "[[point]]\nname = \"serial\"\nkind = \"text\"\n";

#[rustfmt::skip]
const TEXT_CASES: &[(&str, &str, &str, &str, &str)] = &[
    ("a string without registers", "table = \"holding\"\naddress = 0\ntype = \"string\"\n",
        "point[0].type", "string", "a string point needs `registers = N`"),
    ("too many registers", "table = \"holding\"\naddress = 0\ntype = \"string\"\nregisters = 65\n",
        "point[0].registers", "65", "65 is out of range 1..=64"),
    ("no registers at all", "table = \"holding\"\naddress = 0\ntype = \"string\"\nregisters = 0\n",
        "point[0].registers", "registers", "0 is out of range 1..=64"),
    ("a text point of a number", "table = \"holding\"\naddress = 0\ntype = \"u16\"\n",
        "point[0].kind", "text", "a text point reads a string: write type = \"string\" and registers = N, not u16"),
    ("a text point of a bit", "table = \"discrete\"\naddress = 0\ntype = \"bool\"\n",
        "point[0].kind", "text", "a text point reads a string"),
    ("a writable string", "table = \"holding\"\naddress = 0\ntype = \"string\"\nregisters = 4\nwritable = true\n",
        "point[0].writable", "writable", "a string point is read only"),
    ("a string in a coil table", "table = \"coil\"\naddress = 0\ntype = \"string\"\nregisters = 4\n",
        "point[0].type", "string", "type string does not fit a coil table"),
    ("a 32-bit order on a string", "table = \"input\"\naddress = 0\ntype = \"string\"\nregisters = 4\nbyte_order = \"CDAB\"\n",
        "point[0].byte_order", "CDAB", "a string takes byte_order \"AB\""),
    ("a string past 65535", "table = \"input\"\naddress = 65530\ntype = \"string\"\nregisters = 10\n",
        "point[0].address", "65530", "string at 65530 runs to 65539, past the last address 65535"),
    ("a scale on text", "table = \"input\"\naddress = 0\ntype = \"string\"\nregisters = 4\nscale = 0.1\n",
        "point[0].scale", "scale", "`scale` does not apply to a text point, it holds text, not a number"),
    ("a unit on text", "table = \"input\"\naddress = 0\ntype = \"string\"\nregisters = 4\nunit = \"V\"\n",
        "point[0].unit", "unit", "`unit` does not apply to a text point"),
];

#[test]
fn each_point_mistake_names_the_profile_file_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml").display().to_string();
    let cases = (CASES.iter().map(|c| (HEAD, c))).chain(TEXT_CASES.iter().map(|c| (TEXT_HEAD, c)));
    for (head, (what, keys, key, at, says)) in cases {
        let text = format!("{head}{keys}");
        let errors = load_in(dir.path(), &text).expect_err(what);
        assert_eq!(errors.0.len(), 1, "{what}:\n{errors}");
        let e = &errors.0[0];
        assert_eq!(
            (e.file.as_str(), e.key.as_str(), e.line),
            (file.as_str(), *key, Some(line_of(&text, at))),
            "{what}"
        );
        assert!(e.message.contains(says), "{what}: {}", e.message);
    }
}

#[test]
fn command_points_must_be_writable_and_point_names_unique() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[[point]]\nname = \"open\"\nkind = \"command\"\ntable = \"coil\"\naddress = 0\ntype = \"bool\"\n\
                [[point]]\nname = \"open\"\nkind = \"event\"\ntable = \"discrete\"\naddress = 0\ntype = \"bool\"\n";
    let errors = load_in(dir.path(), text).unwrap_err();
    let got: Vec<(&str, Option<usize>)> =
        errors.0.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [("point[0].kind", Some(3)), ("point[1].name", Some(8))],
        "\n{errors}"
    );
    assert!(errors.0[0].message.contains("must be writable"));
    assert!(errors.0[1].message.contains("duplicate point name `open`"));
}

#[test]
fn camera_profiles_take_json_points_only() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[camera]\nheartbeat_timeout = \"0s\"\n\n[[point]]\nname = \"n\"\nkind = \"gauge\"\npointer = \"count\"\ntable = \"input\"\n";
    let errors = load_in(dir.path(), text).unwrap_err();
    let got: Vec<(&str, Option<usize>)> =
        errors.0.iter().map(|e| (e.key.as_str(), e.line)).collect();
    assert_eq!(
        got,
        [
            ("camera.heartbeat_timeout", Some(2)),
            ("point[0].pointer", Some(7)),
            ("point[0].table", Some(8))
        ],
        "\n{errors}"
    );
    assert!(
        errors.0[1].message.contains("not a JSON pointer"),
        "{errors}"
    );
    assert!(
        errors.0[2]
            .message
            .contains("does not apply to a camera point"),
        "{errors}"
    );
    let empty = load_in(dir.path(), "# nothing here\n").unwrap_err();
    assert!(
        empty.0[0].message.contains("needs at least one [[point]]"),
        "{empty}"
    );
}

#[test]
fn string_points_load_with_their_length_and_byte_order() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{TEXT_HEAD}table = \"holding\"\naddress = 100\ntype = \"string\"\nregisters = 10\n\
         [[point]]\nname = \"tag\"\nkind = \"text\"\ntable = \"input\"\naddress = 7\n\
         type = \"string\"\nregisters = 1\nbyte_order = \"ba\"\n"
    );
    let points = load_in(dir.path(), &text).expect("loads");
    let source = |i: usize| match &points[i].source {
        PointSource::Modbus { ty, order, .. } => (*ty, *order),
        other => panic!("{other:?}"),
    };
    assert_eq!(source(0), (PointType::Str(10), ByteOrder::ABCD));
    assert_eq!(source(1), (PointType::Str(1), ByteOrder::BADC));
    assert_eq!(points[0].kind, PointKind::Text);
    assert!(!points[0].writable);
}

#[test]
fn a_camera_point_cannot_be_text() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[camera]\n\n[[point]]\nname = \"plate\"\nkind = \"text\"\npointer = \"/plate\"\n";
    let errors = load_in(dir.path(), text).unwrap_err();
    assert_eq!(errors.0.len(), 1, "\n{errors}");
    let e = &errors.0[0];
    assert_eq!((e.key.as_str(), e.line), ("point[0].kind", Some(5)));
    assert!(e.message.contains("camera points are numbers"), "{errors}");
}

#[test]
fn rules_cannot_judge_a_text_point() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("meter.toml"),
        format!("{TEXT_HEAD}table = \"holding\"\naddress = 0\ntype = \"string\"\nregisters = 4\n"),
    )
    .unwrap();
    let device = "[[device]]\nid = \"meter-1\"\nprofile = \"meter\"\nconnection = \"lan\"\nunit = 9\n\n[[zone]]";
    for rule in [
        "threshold\"\nabove = 1",
        "flatline\"\nfor = \"1m\"",
        "counter\"\nmax_rate = 1",
    ] {
        let text = BASE.replacen("[[zone]]", device, 1)
            + &format!(
                "\n[[rule]]\nname = \"r\"\ndevices = [\"meter-*\"]\npoint = \"serial\"\ntype = \"{rule}\n"
            );
        let errors =
            load_from(&text, "sitewarden.toml", &[], &[dir.path().to_path_buf()]).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{rule}:\n{errors}");
        let e = &errors.0[0];
        assert_eq!(
            (e.key.as_str(), e.line),
            ("rule[1].point", Some(line_of(&text, "point = \"serial\"")))
        );
        assert!(
            e.message
                .contains("rules judge numbers, `serial` on meter-1 is a text point"),
            "{rule}: {errors}"
        );
    }
}

#[test]
fn a_broken_profile_is_reported_once_against_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("turnstile.toml"), "[[point]]\nname = \"x\"\nkind = \"gauge\"\ntable = \"coil\"\naddress = 0\ntype = \"u16\"\n").unwrap();
    let text = BASE.replace("[[zone]]", "[[device]]\nid = \"gate-2\"\nprofile = \"turnstile\"\nconnection = \"lan\"\nunit = 9\n\n[[zone]]");
    let errors = load_from(&text, "sitewarden.toml", &[], &[dir.path().to_path_buf()]).unwrap_err();
    assert_eq!(errors.0.len(), 1, "\n{errors}");
    assert_eq!(
        errors.0[0].file,
        dir.path().join("turnstile.toml").display().to_string()
    );
    assert_eq!(
        (errors.0[0].key.as_str(), errors.0[0].line),
        ("point[0].type", Some(6))
    );
}

#[test]
fn word_orders_take_their_byte_letter_names_too() {
    use crate::site::{ByteOrder, PointSource};
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("", ByteOrder::ABCD),
        ("word_order = \"hi-first\"\n", ByteOrder::ABCD),
        ("word_order = \"abcd\"\n", ByteOrder::ABCD),
        ("word_order = \"lo-first\"\n", ByteOrder::CDAB),
        ("word_order = \"cdab\"\n", ByteOrder::CDAB),
        ("word_order = \"CDAB\"\n", ByteOrder::CDAB),
        ("byte_order = \"BADC\"\n", ByteOrder::BADC),
        ("byte_order = \"dcba\"\n", ByteOrder::DCBA),
        ("byte_order = \"lo-first\"\n", ByteOrder::CDAB),
    ];
    for (line, expected) in cases {
        let text = format!("{HEAD}table = \"holding\"\naddress = 0\ntype = \"f32\"\n{line}");
        let points = load_in(dir.path(), &text).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(
            matches!(points[0].source, PointSource::Modbus { order, .. } if order == expected),
            "{line}"
        );
    }
}

#[test]
fn state_points_take_labels_by_whole_code() {
    let dir = tempfile::tempdir().unwrap();
    let state = "[[point]]\nname = \"s\"\nkind = \"state\"\ntable = \"input\"\naddress = 0\ntype = \"u16\"\n";
    let points = load_in(
        dir.path(),
        &format!("{state}labels = {{ 3 = \"fault\", 0 = \"idle\" }}\n"),
    )
    .unwrap();
    assert_eq!(
        points[0].labels,
        [(0, "idle".to_string()), (3, "fault".to_string())]
    );
    assert_eq!(points[0].label(3.0), Some("fault"));
    assert_eq!(points[0].label(1.0), None);
    assert_eq!(points[0].label(0.5), None);
    let text = format!("{state}labels = {{ idle = \"0\" }}\n");
    let errors = load_in(dir.path(), &text).expect_err("a key that is not a code");
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].key, "point[0].labels");
    assert_eq!(errors.0[0].line, Some(line_of(&text, "labels")));
    assert!(
        errors.0[0]
            .message
            .contains("label key `idle` is not a whole number"),
        "{}",
        errors.0[0].message
    );
}

#[test]
fn a_bit_point_is_a_bool_from_one_register() {
    use crate::site::{ByteOrder, PointSource, PointType, Table};
    let dir = tempfile::tempdir().unwrap();
    for text in [
        format!("{HEAD}table = \"input\"\naddress = 7\nbit = 12\n"),
        format!("{HEAD}table = \"input\"\naddress = 7\nbit = 12\ntype = \"bool\"\n"),
    ] {
        let points = load_in(dir.path(), &text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(
            points[0].source,
            PointSource::Modbus {
                table: Table::Input,
                address: 7,
                ty: PointType::Bit(12),
                order: ByteOrder::ABCD,
            },
            "{text}"
        );
    }
}

#[test]
fn writable_points_that_overlap_are_refused_and_neighbours_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let writable = |name: &str, table: &str, address: u32, ty: &str| {
        format!(
            "[[point]]\nname = \"{name}\"\nkind = \"command\"\ntable = \"{table}\"\n\
             address = {address}\ntype = \"{ty}\"\nwritable = true\n"
        )
    };
    // A u32 setpoint at 10-11 and a u16 at 11: one command would change the other.
    let text = writable("setpoint", "holding", 10, "u32") + &writable("mode", "holding", 11, "u16");
    let errors = load_in(dir.path(), &text).unwrap_err();
    assert_eq!(errors.0.len(), 1, "{errors}");
    assert_eq!(errors.0[0].key, "point[1].address", "{errors}");
    assert!(
        errors.0[0]
            .message
            .contains("writable point `mode` overlaps writable point `setpoint`"),
        "{}",
        errors.0[0].message
    );
    // Two coils at one address too.
    let text = writable("open", "coil", 0, "bool") + &writable("unlock", "coil", 0, "bool");
    assert!(load_in(dir.path(), &text).is_err());
    // Neighbours, the same address in another table, and a read-only point over a
    // writable one are fine.
    let text = writable("setpoint", "holding", 10, "u32")
        + &writable("mode", "holding", 12, "u16")
        + &writable("open", "coil", 10, "bool")
        + "[[point]]\nname = \"readback\"\nkind = \"gauge\"\ntable = \"holding\"\naddress = 10\ntype = \"u32\"\n";
    let points = load_in(dir.path(), &text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(points.len(), 4);
}
