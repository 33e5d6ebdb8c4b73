use super::*;
use crate::site::{ByteOrder, PointKind, PointType};
use proptest::prelude::*;

fn point(table: Table, address: u16, ty: PointType, order: ByteOrder) -> Point {
    Point {
        name: "p".into(),
        source: PointSource::Modbus {
            table,
            address,
            ty,
            order,
        },
        scale: 1.0,
        offset: 0.0,
        unit: None,
        kind: PointKind::Gauge,
        writable: true,
        labels: Vec::new(),
    }
}

#[test]
fn set_point_lays_out_registers_by_type_and_word_order() {
    let mut image = Image::default();
    let level = point(Table::Holding, 0, PointType::F32, ByteOrder::CDAB);
    image.set_point(&level, 1.5).expect("fits");
    assert_eq!(image.holding, BTreeMap::from([(0, 0x0000), (1, 0x3FC0)]));
    let entries = point(Table::Input, 10, PointType::U32, ByteOrder::ABCD);
    image.set_point(&entries, 65_538.0).expect("fits");
    assert_eq!(image.input, BTreeMap::from([(10, 1), (11, 2)]));
    let open = point(Table::Coil, 3, PointType::Bool, ByteOrder::ABCD);
    image.set_point(&open, 1.0).expect("fits");
    assert_eq!(image.coils, BTreeMap::from([(3, true)]));
    let temp = point(Table::Holding, 5, PointType::I16, ByteOrder::ABCD);
    assert!(image.set_point(&temp, 40_000.0).is_err());
}

#[test]
fn images_answer_only_for_addresses_they_hold() {
    let mut image = Image::default();
    image.set_word(Table::Holding, 0, 7);
    image.set_word(Table::Holding, 1, 8);
    image.set_word(Table::Coil, 0, 1);
    image.set_word(Table::Holding, 65_535, 1);
    let cases: Vec<(Request<'static>, Result<Response, ExceptionCode>)> = vec![
        (
            Request::ReadHoldingRegisters(0, 2),
            Ok(Response::ReadHoldingRegisters(vec![7, 8])),
        ),
        (
            Request::ReadHoldingRegisters(1, 2),
            Err(ExceptionCode::IllegalDataAddress),
        ),
        (
            Request::ReadInputRegisters(0, 1),
            Err(ExceptionCode::IllegalDataAddress),
        ),
        (
            Request::ReadCoils(0, 1),
            Ok(Response::ReadCoils(vec![true])),
        ),
        (
            Request::ReadDiscreteInputs(0, 1),
            Err(ExceptionCode::IllegalDataAddress),
        ),
        (
            Request::ReadHoldingRegisters(65_535, 2),
            Err(ExceptionCode::IllegalDataAddress),
        ),
        (
            Request::WriteSingleRegister(1, 9),
            Ok(Response::WriteSingleRegister(1, 9)),
        ),
        (
            Request::WriteSingleRegister(2, 9),
            Err(ExceptionCode::IllegalDataAddress),
        ),
        (
            Request::WriteSingleCoil(0, false),
            Ok(Response::WriteSingleCoil(0, false)),
        ),
        (Request::ReportServerId, Err(ExceptionCode::IllegalFunction)),
    ];
    for (req, expected) in cases {
        let label = format!("{req:?}");
        assert_eq!(image.answer(req), expected, "{label}");
    }
    assert_eq!(image.holding.get(&1), Some(&9));
    assert_eq!(image.coils.get(&0), Some(&false));
}

#[test]
fn a_profile_image_holds_every_point_at_zero() {
    let points = [
        point(Table::Input, 0, PointType::U32, ByteOrder::ABCD),
        point(Table::Discrete, 1, PointType::Bool, ByteOrder::ABCD),
    ];
    let image = Image::with_points(&points);
    assert_eq!(image.input, BTreeMap::from([(0, 0), (1, 0)]));
    assert_eq!(image.discrete, BTreeMap::from([(1, false)]));
    assert_eq!(image.point(&points[0]), Some(0.0));
}

fn any_type() -> impl Strategy<Value = PointType> {
    use PointType::*;
    prop_oneof![
        Just(U16),
        Just(I16),
        Just(U32),
        Just(I32),
        Just(F32),
        Just(U64),
        Just(I64),
        Just(F64)
    ]
}

proptest! {
    #[test]
    fn set_point_and_point_round_trip(ty in any_type(), lo_first in any::<bool>(),
                                      address in 0u16..65_000, x in -1e6f64..1e6) {
        let order = if lo_first { ByteOrder::CDAB } else { ByteOrder::ABCD };
        let p = point(Table::Holding, address, ty, order);
        // A value the type can carry exactly: integers for integer types, f32 for f32.
        let raw = match ty {
            PointType::F64 => x,
            PointType::F32 => f64::from(x as f32),
            PointType::U16 => x.abs().round() % 65_536.0,
            PointType::I16 => x.round() % 32_768.0,
            PointType::U32 | PointType::U64 => x.abs().round(),
            _ => x.round(),
        };
        let mut image = Image::default();
        image.set_point(&p, raw).expect("fits");
        prop_assert_eq!(image.holding.len(), usize::from(ty.registers()));
        prop_assert_eq!(image.point(&p), Some(raw));
    }
}
