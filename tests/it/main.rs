//! The one integration-test binary: the real daemon against a real Mosquitto and real
//! Modbus servers on loopback.

mod support;

// The daemon end to end: polling, summaries, status (issue 2).
mod daemon;

// Store-and-forward under broker outages, kill -9 and a full outbox (issue 3).
mod faults;

// The systemd unit, maintainer scripts and the .deb (issue 5).
mod packaging;
