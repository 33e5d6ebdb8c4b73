use super::*;
use crate::site::{ByteOrder, PointKind};

fn point(table: Table, ty: PointType, scale: f64, offset: f64, writable: bool) -> Point {
    Point {
        name: "p".into(),
        source: PointSource::Modbus {
            table,
            address: 7,
            ty,
            order: ByteOrder::CDAB,
        },
        scale,
        offset,
        unit: None,
        kind: PointKind::Command,
        writable,
        labels: Vec::new(),
    }
}

#[test]
fn writes_undo_scale_and_offset_and_pick_the_function() {
    use PointType::*;
    use Table::*;
    let ok = [
        (
            point(Coil, Bool, 1.0, 0.0, true),
            1.0,
            Request::WriteCoil {
                address: 7,
                on: true,
            },
        ),
        (
            point(Coil, Bool, 1.0, 0.0, true),
            0.0,
            Request::WriteCoil {
                address: 7,
                on: false,
            },
        ),
        (
            point(Holding, I16, 0.1, 0.0, true),
            22.3,
            Request::WriteRegister {
                address: 7,
                value: 223,
            },
        ),
        (
            point(Holding, U16, 1.0, -40.0, true),
            -20.0,
            Request::WriteRegister {
                address: 7,
                value: 20,
            },
        ),
        (
            point(Holding, U32, 1.0, 0.0, true),
            65_538.0,
            Request::WriteRegisters {
                address: 7,
                values: vec![2, 1],
            },
        ),
        (
            point(Holding, Bool, 1.0, 0.0, true),
            1.0,
            Request::WriteRegister {
                address: 7,
                value: 1,
            },
        ),
    ];
    for (p, value, expected) in ok {
        assert_eq!(
            write_request(&p, value),
            Ok(expected),
            "{:?} ← {value}",
            p.source
        );
    }
    let refused = [
        (
            point(Holding, U16, 1.0, 0.0, false),
            1.0,
            "p is not writable",
        ),
        (
            point(Input, U16, 1.0, 0.0, true),
            1.0,
            "p is in the read-only input table",
        ),
        (
            point(Holding, U16, 1.0, 0.0, true),
            -1.0,
            "-1 is out of range for u16",
        ),
        (point(Holding, U16, 0.0, 0.0, true), 1.0, "p has scale 0"),
    ];
    for (p, value, message) in refused {
        assert_eq!(write_request(&p, value), Err(message.to_string()));
    }
}

#[test]
fn only_silence_and_a_gateways_no_response_count_as_no_answer() {
    let cases = [
        (PollError::Timeout, true),
        (PollError::Transport("reset".into()), true),
        (PollError::Exception(0x0B), true),
        (PollError::Exception(0x0A), true),
        (PollError::Exception(0x02), false),
        (PollError::Exception(0x04), false),
        (PollError::Exception(0x06), false),
        (PollError::Malformed("crc".into()), false),
    ];
    for (e, silent) in cases {
        assert_eq!(no_answer(&e), silent, "{e}");
    }
}

#[test]
fn raw_values_come_from_the_point_slot() {
    let p = point(Table::Holding, PointType::U32, 1.0, 0.0, false);
    let words = Answer::Words(vec![9, 2, 1, 9]);
    let slot = Slot {
        read: 0,
        offset: 1,
        len: 2,
    };
    assert_eq!(raw_of(&p, slot, &words), Ok(65_538.0));
    let short = Slot {
        read: 0,
        offset: 3,
        len: 2,
    };
    assert!(matches!(
        raw_of(&p, short, &words),
        Err(PollError::Malformed(_))
    ));
    let b = point(Table::Coil, PointType::Bool, 1.0, 0.0, false);
    let bits = Answer::Bits(vec![false, true]);
    assert_eq!(
        raw_of(
            &b,
            Slot {
                read: 0,
                offset: 1,
                len: 1
            },
            &bits
        ),
        Ok(1.0)
    );
}
