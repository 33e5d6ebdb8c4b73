//! Modbus RTU on a pseudo-terminal, against tokio-modbus's RTU server.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::reading::PollError;
use crate::sim::modbus::{Fault, Faults, Image, PtyBus, units};

#[tokio::test]
async fn an_rtu_bus_serves_every_unit_despite_a_silent_and_a_slow_one() {
    bounded(async {
        let points = every_type();
        let reg = point("value", Table::Holding, 0, PointType::U16, ByteOrder::ABCD);
        let faults = Faults::default();
        faults.set(3, Fault::Slow(Duration::from_millis(120)));
        let all = units([
            (1, image_of(&points)),
            (2, image_of(&[(reg.clone(), 222.0)])),
            (3, image_of(&[(reg.clone(), 333.0)])),
        ]);
        let bus = PtyBus::open(all, faults.clone()).expect("pseudo-terminal pair");
        let site = site(
            vec![rtu(bus.path.clone(), 50)],
            vec![
                device(
                    "all",
                    0,
                    1,
                    100,
                    points.iter().map(|(p, _)| p.clone()).collect(),
                ),
                device("two", 0, 2, 100, vec![reg.clone()]),
                device("late", 0, 3, 100, vec![reg.clone()]),
                // No unit 4 on the bus.
                device("absent", 0, 4, 100, vec![reg]),
            ],
        );
        let mut run = start(&site);
        let seen = run.collect(Duration::from_millis(2000)).await;
        let of = |d: usize| seen.iter().filter(move |s| s.device == d);
        // A late answer may spoil the next poll (it is then malformed), never its values.
        for s in of(0).filter(|s| s.error.is_none()) {
            for ((p, raw), got) in points.iter().zip(&s.values) {
                assert_eq!(*got, Some(*raw), "point {}", p.name);
            }
        }
        for s in of(1) {
            assert!(
                s.values == [Some(222.0)] || (s.values == [None] && s.error.is_some()),
                "{s:?}"
            );
        }
        assert!(of(0).filter(|s| s.error.is_none()).count() >= 5);
        assert!(of(1).filter(|s| s.error.is_none()).count() >= 5);
        assert!(of(2).all(|s| s.values == [None] || s.values == [Some(333.0)]));
        // The absent unit never answers; a late answer of unit 3 that lands while we wait
        // for it is refused as someone else's (malformed), not taken for its own.
        for s in of(3) {
            assert!(
                matches!(s.error, Some(PollError::Timeout | PollError::Malformed(_))),
                "{s:?}"
            );
            assert_eq!(s.values, [None]);
        }
        assert!(of(3).any(|s| s.error == Some(PollError::Timeout)));
        // The slow unit answers in time once it speeds up.
        faults.clear(3);
        let s = run.sample(2, |s| s.error.is_none()).await;
        assert_eq!(s.values, vec![Some(333.0)]);
        run.stop().await;
    })
    .await;
}

#[tokio::test]
async fn writes_work_over_rtu() {
    bounded(async {
        let mut locked = point("locked", Table::Coil, 1, PointType::Bool, ByteOrder::ABCD);
        locked.writable = true;
        let all = units([(5, Image::with_points(std::slice::from_ref(&locked)))]);
        let bus = PtyBus::open(Arc::clone(&all), Faults::default()).expect("pseudo-terminal pair");
        let site = site(
            vec![rtu(bus.path.clone(), 200)],
            vec![device("gate", 0, 5, 1000, vec![locked.clone()])],
        );
        let run = start(&site);
        let written = run.write(0, 0, 0, 1.0).await.expect("written");
        assert_eq!((written.readback, written.held), (Some(1.0), true));
        let now = all
            .lock()
            .expect("sim lock")
            .get(&5)
            .and_then(|i| i.point(&locked));
        assert_eq!(now, Some(1.0));
        run.stop().await;
    })
    .await;
}
