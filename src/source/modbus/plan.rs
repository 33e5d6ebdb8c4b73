//! A device's points → the fewest read requests that fetch them all (coalescing).
//!
//! Pure: computed once per device when its connection task starts, and by `check` to show
//! reads per poll. Never talks to a device.
//!
//! Points of one table are sorted by address and merged greedily: a point joins the
//! current read when it starts no more than `device.max_gap` registers (or bits) after the
//! read's end, and the read stays within the request limit — `max_registers_per_read`
//! (itself ≤ 125, the protocol's cap for FC3/FC4) for registers, 2000 for bits (FC1/FC2).
//! Skipped registers cost a few bytes on the wire; every extra request costs a round trip,
//! which on a 9600-baud bus is ~10 ms. A point is never split over two reads, because a
//! value read in halves at two instants can tear; a point wider than the limit gets a read
//! of its own size.

use crate::site::{Device, PointSource, Table};

/// The protocol limit for FC3/FC4 reads.
pub const MAX_REGISTERS: u16 = 125;
/// The protocol limit for FC1/FC2 reads.
pub const MAX_BITS: u16 = 2000;

/// One read request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Read {
    pub table: Table,
    pub address: u16,
    /// Registers or bits.
    pub count: u16,
}

/// Where a point's value sits in the answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    /// Index into `Plan::reads`.
    pub read: usize,
    /// Registers (or bits) from the read's first address.
    pub offset: u16,
    /// Registers the point spans (1 for bits).
    pub len: u16,
}

/// Every read of one poll, and where each point finds its value.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Plan {
    /// In table order (coil, discrete, input, holding), then by address.
    pub reads: Vec<Read>,
    /// One per device point, in profile order; `None` for points not read over Modbus.
    pub slots: Vec<Option<Slot>>,
}

/// Plans the reads for all Modbus points of `device`.
pub fn plan(device: &Device) -> Plan {
    // (table, address, width, point index), sorted so each table's points are adjacent.
    let mut spans: Vec<(Table, u32, u32, usize)> = device
        .points
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match &p.source {
            PointSource::Modbus {
                table, address, ty, ..
            } => {
                let width = if table.is_bits() { 1 } else { ty.registers() };
                Some((*table, u32::from(*address), u32::from(width), i))
            }
            PointSource::Json { .. } => None,
        })
        .collect();
    spans.sort_unstable();

    let register_limit = u32::from(device.max_registers_per_read.clamp(1, MAX_REGISTERS));
    let gap = u32::from(device.max_gap);
    let mut plan = Plan {
        reads: Vec::new(),
        slots: vec![None; device.points.len()],
    };
    // The read being grown: table, start, end (exclusive).
    let mut current: Option<(Table, u32, u32)> = None;
    for (table, start, width, point) in spans {
        let limit = if table.is_bits() {
            u32::from(MAX_BITS)
        } else {
            register_limit
        };
        // Addresses past 65535 are refused by config validation; clamp so the wire fields fit.
        let end = (start + width).min(1 << 16);
        let joins = match current {
            Some((t, s, e)) => t == table && start <= e + gap && end.max(e) - s <= limit,
            None => false,
        };
        if joins {
            if let Some((_, _, e)) = current.as_mut() {
                *e = (*e).max(end);
            }
        } else {
            if let Some(done) = current.take() {
                plan.reads.push(read_of(done));
            }
            current = Some((table, start, end));
        }
        let read_start = current.map_or(start, |(_, s, _)| s);
        plan.slots[point] = Some(Slot {
            read: plan.reads.len(),
            offset: (start - read_start) as u16,
            len: width as u16,
        });
    }
    if let Some(done) = current {
        plan.reads.push(read_of(done));
    }
    plan
}

fn read_of((table, start, end): (Table, u32, u32)) -> Read {
    Read {
        table,
        address: start as u16,
        count: (end - start) as u16,
    }
}

/// Read requests one poll of `device` makes (shown by `check`).
pub fn reads_per_poll(device: &Device) -> usize {
    plan(device).reads.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::site::{ByteOrder, Point, PointKind, PointType};
    use std::time::Duration;

    fn point(table: Table, address: u16, ty: PointType) -> Point {
        Point {
            name: format!("{}{address}", table.name()),
            source: PointSource::Modbus {
                table,
                address,
                ty,
                order: ByteOrder::ABCD,
            },
            scale: 1.0,
            offset: 0.0,
            unit: None,
            kind: PointKind::Gauge,
            writable: false,
            labels: Vec::new(),
        }
    }

    fn device(points: Vec<Point>, max_registers_per_read: u16, max_gap: u16) -> Device {
        Device {
            id: "d".into(),
            profile: "p".into(),
            connection: 0,
            unit: 1,
            poll: Duration::from_secs(1),
            zone: None,
            max_registers_per_read,
            max_gap,
            points: points.into(),
            camera: None,
            live: None,
        }
    }

    /// `reads` as (table, address, count); `slots` as (read, offset) per point.
    fn check(
        points: &[(Table, u16, PointType)],
        max_regs: u16,
        gap: u16,
        reads: &[(Table, u16, u16)],
        slots: &[(usize, u16)],
    ) {
        let pts = points.iter().map(|&(t, a, ty)| point(t, a, ty)).collect();
        let p = plan(&device(pts, max_regs, gap));
        let got: Vec<_> = p
            .reads
            .iter()
            .map(|r| (r.table, r.address, r.count))
            .collect();
        assert_eq!(got, reads, "reads for {points:?} max {max_regs} gap {gap}");
        let got: Vec<_> = p
            .slots
            .iter()
            .map(|s| s.map(|s| (s.read, s.offset)))
            .collect();
        let want: Vec<_> = slots.iter().map(|&s| Some(s)).collect();
        assert_eq!(got, want, "slots for {points:?} max {max_regs} gap {gap}");
    }

    use PointType::*;
    use Table::*;

    #[test]
    fn coalesces_points_per_table() {
        // The turnstile profile: five reads become three.
        check(
            &[
                (Input, 0, U32),
                (Input, 2, U32),
                (Input, 4, U16),
                (Discrete, 0, Bool),
                (Discrete, 1, Bool),
                (Coil, 0, Bool),
                (Coil, 1, Bool),
            ],
            125,
            0,
            &[(Coil, 0, 2), (Discrete, 0, 2), (Input, 0, 5)],
            &[(2, 0), (2, 2), (2, 4), (1, 0), (1, 1), (0, 0), (0, 1)],
        );
        // Profile order does not matter; addresses do.
        check(
            &[(Holding, 1, I16), (Holding, 0, U16)],
            125,
            0,
            &[(Holding, 0, 2)],
            &[(0, 1), (0, 0)],
        );
    }

    #[test]
    fn gaps_join_only_within_max_gap() {
        let pts = [(Holding, 0, U16), (Holding, 5, U16)];
        check(
            &pts,
            125,
            0,
            &[(Holding, 0, 1), (Holding, 5, 1)],
            &[(0, 0), (1, 0)],
        );
        check(
            &pts,
            125,
            3,
            &[(Holding, 0, 1), (Holding, 5, 1)],
            &[(0, 0), (1, 0)],
        );
        check(&pts, 125, 4, &[(Holding, 0, 6)], &[(0, 0), (0, 5)]);
        // Bits use the same gap rule.
        let bits = [(Coil, 0, Bool), (Coil, 10, Bool)];
        check(&bits, 125, 9, &[(Coil, 0, 11)], &[(0, 0), (0, 10)]);
        check(
            &bits,
            125,
            8,
            &[(Coil, 0, 1), (Coil, 10, 1)],
            &[(0, 0), (1, 0)],
        );
    }

    #[test]
    fn reads_respect_the_register_limit_without_splitting_a_point() {
        let pts = [(Input, 0, U32), (Input, 2, U32), (Input, 4, U16)];
        check(
            &pts,
            4,
            0,
            &[(Input, 0, 4), (Input, 4, 1)],
            &[(0, 0), (0, 2), (1, 0)],
        );
        check(
            &pts,
            3,
            0,
            &[(Input, 0, 2), (Input, 2, 3)],
            &[(0, 0), (1, 0), (1, 2)],
        );
        // A point wider than the limit still gets one read of its own size.
        check(&[(Holding, 0, F64)], 2, 0, &[(Holding, 0, 4)], &[(0, 0)]);
        // Above the protocol cap the cap wins.
        let far = [(Holding, 0, U16), (Holding, 125, U16)];
        check(
            &far,
            200,
            200,
            &[(Holding, 0, 1), (Holding, 125, 1)],
            &[(0, 0), (1, 0)],
        );
    }

    #[test]
    fn bit_reads_stop_at_2000() {
        let bits = [
            (Discrete, 0, Bool),
            (Discrete, 1999, Bool),
            (Discrete, 2000, Bool),
        ];
        check(
            &bits,
            125,
            2000,
            &[(Discrete, 0, 2000), (Discrete, 2000, 1)],
            &[(0, 0), (0, 1999), (1, 0)],
        );
    }

    #[test]
    fn bits_of_one_status_word_share_its_read() {
        check(
            &[
                (Holding, 10, Bit(0)),
                (Holding, 10, Bit(7)),
                (Holding, 11, U16),
                (Holding, 10, Bit(15)),
            ],
            125,
            0,
            &[(Holding, 10, 2)],
            &[(0, 0), (0, 0), (0, 1), (0, 0)],
        );
    }

    #[test]
    fn a_string_joins_its_neighbours_like_any_wide_point() {
        check(
            &[(Holding, 0, U16), (Holding, 1, Str(10)), (Holding, 11, U32)],
            125,
            0,
            &[(Holding, 0, 13)],
            &[(0, 0), (0, 1), (0, 11)],
        );
        // Never split: a string wider than the limit gets a read of its own size.
        check(
            &[(Input, 0, U16), (Input, 1, Str(64))],
            40,
            0,
            &[(Input, 0, 1), (Input, 1, 64)],
            &[(0, 0), (1, 0)],
        );
    }

    #[test]
    fn overlapping_points_share_a_read() {
        check(
            &[(Holding, 0, U32), (Holding, 1, U16)],
            125,
            0,
            &[(Holding, 0, 2)],
            &[(0, 0), (0, 1)],
        );
    }

    #[test]
    fn camera_points_are_not_planned() {
        let mut cam = point(Input, 0, U16);
        cam.source = PointSource::Json {
            pointer: "/count".into(),
            filter: vec![],
        };
        let d = device(vec![cam, point(Input, 3, U16)], 125, 0);
        let p = plan(&d);
        assert_eq!(p.slots[0], None);
        assert_eq!(p.slots[1].map(|s| s.read), Some(0));
        assert_eq!(reads_per_poll(&d), 1);
    }
}
