//! (to be written)

pub mod camera;
