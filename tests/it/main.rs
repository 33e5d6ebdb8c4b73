//! The one integration-test binary: the real daemon against a real Mosquitto and real
//! Modbus servers on loopback.

// A test binary exports nothing: `pub` in `support/` marks each helper's interface for
// the test modules, which is what this lint (meant for the library) would flag.
#![allow(unreachable_pub)]

mod support;

// The daemon end to end: polling, summaries, status (issue 2).
mod daemon;

// Store-and-forward under broker outages, kill -9 and a full outbox (issue 3).
mod faults;

// The systemd unit, maintainer scripts and the .deb (issue 5).
mod packaging;
