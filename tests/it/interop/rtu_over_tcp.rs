//! RTU over TCP: the raw RTU frames a serial device server in transparent mode puts on
//! a TCP socket. Two peers we did not write: pymodbus's RTU framer on a TCP socket, and
//! a serial device server stand-in (socat between a TCP listener and the pty a pymodbus
//! RTU server answers on). Every shipped profile decodes right, and a dead, a slow and
//! a refusing unit cost the four live units none of their rate: the RTU bus rules
//! (silence, drain after a lost answer, per-device backoff) hold behind the socket.

use super::faults::{SLOW_MS, healthy_units_keep_their_rate, mixed_bus};
use super::fixture::{PtyPair, Pymodbus, SerialServer, bounded, rtu_over_tcp};
use super::values::{profiles_on, reads_every_profile};

#[test]
fn every_profile_reads_right_from_pymodbus_rtu_framer_on_tcp() {
    let server = Pymodbus::rtu_over_tcp(200);
    let site = profiles_on("dtu", rtu_over_tcp("dtu", &server.address, "1s"));
    bounded(reads_every_profile(&site, "rtu-over-tcp"));
}

#[test]
fn a_dead_unit_costs_the_live_ones_nothing_through_pymodbus_rtu_framer_on_tcp() {
    let server = Pymodbus::rtu_over_tcp(SLOW_MS);
    let site = mixed_bus(rtu_over_tcp("dtu", &server.address, "100ms"), "dtu");
    bounded(healthy_units_keep_their_rate(&site, "rtu-over-tcp"));
}

#[test]
fn every_profile_reads_right_through_a_serial_device_server() {
    let line = PtyPair::open();
    let _device = Pymodbus::rtu(&line.device, 200);
    let server = SerialServer::open(&line.gateway);
    let site = profiles_on("dtu", rtu_over_tcp("dtu", &server.address, "1s"));
    bounded(reads_every_profile(&site, "serial device server"));
}

#[test]
fn a_dead_unit_costs_the_live_ones_nothing_through_a_serial_device_server() {
    // The slow unit's late answer crosses the line after our timeout and reaches us
    // through the socket: the link must drain it, or the next unit would be credited.
    let line = PtyPair::open();
    let _device = Pymodbus::rtu(&line.device, SLOW_MS);
    let server = SerialServer::open(&line.gateway);
    let site = mixed_bus(rtu_over_tcp("dtu", &server.address, "100ms"), "dtu");
    bounded(healthy_units_keep_their_rate(&site, "serial device server"));
}
