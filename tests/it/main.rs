//! The one integration-test binary: the real daemon against a real Mosquitto and real
//! Modbus servers on loopback.

// Helpers in `support` are `pub` for their sibling test modules, not a public API, and
// their cleanup on drop is best effort (a broker already gone is fine).
#![allow(unreachable_pub, clippy::let_underscore_must_use)]

// Not every helper is used by every test module.
#[allow(dead_code)]
mod support;

// The daemon end to end: polling, summaries, status (issue 2).
mod daemon;

// Alarms: raised once, cleared once, surviving a restart (issue 4).
mod alarms;

// Grid cells and rules that know the local time (issue 12).
mod cells;

// Patrol rounds at Modbus and MQTT tag readers (issue 12).
mod patrol;

// Issue 6: pymodbus and mbpoll against our client, probe and the daemon.
mod interop;

// Store-and-forward under broker outages, kill -9 and a full outbox (issue 3).
mod faults;

// The systemd unit, maintainer scripts and the .deb (issue 5).
mod packaging;

// mqtts:// to the platform broker (spec: uplink.broker, ca_file).
mod tls;

// Uplink failures that say why; `sitewarden status` (issue 13).
mod history;
mod http;
mod probe_daemon;
mod status;
mod uplink_reasons;

// SIGHUP reload (issue 5).
mod reload;

// sd_notify: READY, STATUS, WATCHDOG, RELOADING, STOPPING (issue 5).
mod notify;

// SIGTERM / SIGHUP while the daemon is still starting (issue 5).
mod startup;

// check, env overrides, outbox errors (issues 2, 3).
mod cli;

// `sitewarden demo` (issue 5).
mod demo;

// The published contract: docs/platform.md and docs/schema/ (issue 11).
mod contract;

// P/inventory and P/live (issue 11).
mod inventory;
mod live;

// [uplink] format = "thingsboard" (issue 11).
mod thingsboard;

// [uplink] format = "sparkplug" (issue 11).
mod sparkplug;

// P/cmd: retained, repeated, stale, forged, flooded and zone commands (issue 10).
mod commands;
