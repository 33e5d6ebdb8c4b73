//! Engine-level tests: compilation, dispatch, state round trip, and properties.
