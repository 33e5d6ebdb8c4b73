//! The one integration-test binary: the real daemon against a real Mosquitto and real
//! Modbus servers on loopback.

mod support;

// The daemon end to end: polling, summaries, status (issue 2).
mod daemon;

// Alarms: raised once, cleared once, surviving a restart (issue 4).
mod alarms;

// The systemd unit, maintainer scripts and the .deb (issue 5).
mod packaging;
