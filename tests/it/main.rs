//! The one integration-test binary: the real daemon against a real Mosquitto and real
//! Modbus servers on loopback.

mod support;

// The daemon end to end: polling, summaries, status (issue 2).
mod daemon;

// Issue 6: pymodbus and mbpoll against our client, probe and the daemon.
mod interop;

// The systemd unit, maintainer scripts and the .deb (issue 5).
mod packaging;
