//! (to be written)

/// `sitewarden check`: the listing of a validated site.
pub mod check;
