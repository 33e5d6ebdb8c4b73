//! Modbus acquisition (to be written).

pub mod decode;
pub mod frame;
pub mod plan;
