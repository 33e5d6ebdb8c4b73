//! `probe --scan`: the raw registers (or bits) of a range, for a device without a
//! profile yet, so an installer can find where its values really are.
//!
//! A scan is an ad-hoc profile of one u16 point per register (one bool per bit) named
//! after its address, read by the same `read_once` as any probe: coalesced into reads of
//! up to `max_registers_per_read` (bits up to 2000), each shown in hex with its value.
//! A range the device does not hold answers with exception 0x02 for its whole read.

use clap::ValueEnum;

use crate::site::{ByteOrder, Point, PointKind, PointSource, PointType, Table};

/// The largest range one scan reads (a few screens of output).
pub(super) const MAX_SCAN: u16 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableArg {
    Holding,
    Input,
    Coil,
    Discrete,
}

impl TableArg {
    fn table(self) -> Table {
        match self {
            TableArg::Holding => Table::Holding,
            TableArg::Input => Table::Input,
            TableArg::Coil => Table::Coil,
            TableArg::Discrete => Table::Discrete,
        }
    }
}

/// One point per address of `count` from `address`, or why the range cannot be read.
pub(super) fn points(table: TableArg, address: u16, count: u16) -> Result<Vec<Point>, String> {
    let last = u32::from(address) + u32::from(count) - 1;
    if last > 65_535 {
        return Err(format!(
            "--address {address} --count {count} runs to {last}, past the last address 65535"
        ));
    }
    let table = table.table();
    let ty = if table.is_bits() {
        PointType::Bool
    } else {
        PointType::U16
    };
    Ok((address..=last as u16)
        .map(|a| Point {
            name: format!("{}-{a}", table.name()),
            source: PointSource::Modbus {
                table,
                address: a,
                ty,
                order: ByteOrder::ABCD,
            },
            scale: 1.0,
            offset: 0.0,
            unit: None,
            kind: PointKind::Gauge,
            writable: false,
            labels: Vec::new(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_is_one_point_per_address_and_stays_in_range() {
        let p = points(TableArg::Holding, 40, 3).unwrap();
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["holding-40", "holding-41", "holding-42"]);
        let coils = points(TableArg::Coil, 0, 2).unwrap();
        assert!(matches!(
            coils[1].source,
            PointSource::Modbus {
                table: Table::Coil,
                address: 1,
                ty: PointType::Bool,
                ..
            }
        ));
        let err = points(TableArg::Input, 65_530, 10).unwrap_err();
        assert!(err.contains("runs to 65539"), "{err}");
    }
}
