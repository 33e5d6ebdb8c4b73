//! (module doc written below)

mod codec;
pub mod raw;

pub use raw::RawRing;

#[cfg(test)]
mod tests;
