//! A window into the running daemon: the status snapshot (`snapshot.rs`), its text form
//! for `sitewarden status` (`text.rs`) and the local unix socket that serves it
//! (`socket.rs`), which also carries `probe`'s reads to the connection tasks
//! (`probe.rs`). Everything here reads; nothing writes to a device or the store.

pub mod probe;
pub mod snapshot;
pub mod socket;
pub mod text;

pub use snapshot::Snapshot;

/// The status socket of a data directory.
pub fn socket_path(data_dir: &std::path::Path) -> std::path::PathBuf {
    data_dir.join("status.sock")
}
