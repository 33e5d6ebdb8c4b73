//! Interop (issue 6): our Modbus client against implementations we did not write.
//!
//! pymodbus (tests/fixtures/pymodbus_server.py, from the venv scripts/test.sh makes)
//! plays the devices, over TCP and over RTU on a socat pty pair; mbpoll (libmodbus)
//! reads the same registers as `sitewarden probe` and must agree. Without
//! `SW_TEST_PYTHON` these tests fail and say to run scripts/test.sh: they are
//! never skipped.
//!
//! - `values`: every shipped profile decoded right, TCP and RTU, several unit ids.
//! - `faults`: exceptions, a silent unit, slow answers either side of the timeout,
//!   garbled replies (`proxy`, TCP and RTU); the other units keep their poll rate.
//! - `mbpoll`: the cross-check, and `probe`'s exit codes.
//! - `daemon`: the values through to the summaries at the broker.
//! - `strings`: string points (serial numbers, tag ids) through probe, the poller, the
//!   summaries and `status`.

mod daemon;
mod faults;
mod fixture;
mod layouts;
mod mbpoll;
mod proxy;
mod rtu_over_tcp;
mod strings;
mod values;
