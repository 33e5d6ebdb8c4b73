//! Text points (a serial number, a tag id) over one window: the last text read and how
//! many times the text changed, counting a change from the last text of the previous
//! window (as a state point counts transitions).
//!
//! Texts arrive beside the numbers (`Sample::texts`); they have no unit, scale or
//! statistics. The raw ring keeps numbers only, so a window rebuilt after a restart sees
//! only the texts read since.

use super::PointSummary;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Text {
    /// The last text seen, in this window or carried from an earlier one.
    prev: Option<Box<str>>,
    seen: bool,
    transitions: u64,
}

impl Text {
    pub(super) fn new(carried: Option<Box<str>>) -> Self {
        Text {
            prev: carried,
            seen: false,
            transitions: 0,
        }
    }

    pub(super) fn add(&mut self, text: &str) {
        if self.prev.as_deref().is_some_and(|p| p != text) {
            self.transitions += 1;
        }
        if self.prev.as_deref() != Some(text) {
            self.prev = Some(text.into());
        }
        self.seen = true;
    }

    pub(super) fn carry(&self) -> Option<Box<str>> {
        self.prev.clone()
    }

    /// `last` is `None` when the window read no text, even if an earlier one did.
    pub(super) fn finish(&self) -> PointSummary {
        PointSummary::Text {
            last: self.prev.clone().filter(|_| self.seen),
            transitions: self.transitions,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(carried: Option<&str>, texts: &[&str], last: Option<&str>, transitions: u64) {
        let mut t = Text::new(carried.map(Into::into));
        for x in texts {
            t.add(x);
        }
        assert_eq!(
            t.finish(),
            PointSummary::Text {
                last: last.map(Into::into),
                transitions
            },
            "carried {carried:?}, texts {texts:?}"
        );
    }

    #[test]
    fn changes_count_including_from_the_carried_text() {
        check(None, &[], None, 0);
        check(Some("SN-1"), &[], None, 0);
        check(None, &["SN-1"], Some("SN-1"), 0);
        check(None, &["SN-1", "SN-1", "SN-2", "SN-1"], Some("SN-1"), 2);
        // A new tag read across the window boundary counts in the new window.
        check(Some("TAG-7"), &["TAG-8"], Some("TAG-8"), 1);
        check(Some("TAG-7"), &["TAG-7", "TAG-7"], Some("TAG-7"), 0);
        // The empty text (a reader with no tag) is a text like any other.
        check(Some("TAG-7"), &["", "TAG-7"], Some("TAG-7"), 2);
    }
}
