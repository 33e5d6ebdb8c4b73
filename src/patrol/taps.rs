//! Seeing a tap in a tag reader's sample.
//!
//! A Modbus reader keeps a tap counter (`taps`) beside the last tag it read (`tag`): a
//! tap is the counter moving, and the tag is the one read with it. The first reading
//! only sets where the counter stands; a counter that went back (the reader restarted)
//! counts one tap if it is above zero. Two taps between polls count as one, of the last
//! tag: poll a reader faster than staff can walk between two of them. A reader or
//! handheld publishing JSON has no counter: every message carrying a `tag` is a tap.

use super::{TAG_POINT, TAPS_POINT};
use crate::rules::value_at;
use crate::site::Device;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Reader {
    /// Index of the `tag` point.
    tag: usize,
    /// Index of the `taps` counter point (None: each message is a tap).
    taps: Option<usize>,
    /// Where the counter stood at the last reading.
    pub(super) last: Option<f64>,
}

impl Reader {
    /// How to read taps from `device`; None when it has no `tag` point.
    pub(super) fn of(device: &Device) -> Option<Reader> {
        Some(Reader {
            tag: device.point_index(TAG_POINT)?,
            taps: device.point_index(TAPS_POINT),
            last: None,
        })
    }

    /// What this sample says: the tag of a tap, if there is one; whether the counter
    /// moved; and a tag value that is no tag id (refused, so counted by the caller).
    pub(super) fn see(&mut self, values: &[Option<f64>]) -> Seen {
        let raw = value_at(values, self.tag);
        let tag = raw.and_then(tag_id);
        let refused = raw.filter(|_| tag.is_none());
        let Some(taps) = self.taps else {
            return Seen {
                tag,
                moved: false,
                refused,
            };
        };
        let Some(count) = value_at(values, taps) else {
            return Seen::default();
        };
        let before = self.last.replace(count);
        let tapped = before.is_some_and(|b| count != b && count > 0.0);
        Seen {
            tag: tag.filter(|_| tapped),
            moved: before != Some(count),
            refused: refused.filter(|_| tapped),
        }
    }
}

/// What one sample of a reader says.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct Seen {
    pub(super) tag: Option<u32>,
    pub(super) moved: bool,
    pub(super) refused: Option<f64>,
}

/// A tag id is a whole number that fits in 32 bits.
fn tag_id(v: f64) -> Option<u32> {
    (v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v)).then_some(v as u32)
}
