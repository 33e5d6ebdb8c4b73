//! A pseudo-terminal pair, for tests and benches that stand a serial line up without
//! hardware (a relay in the middle of a simulated RS485 bus, a port another process holds).

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::FromRawFd;
use std::path::PathBuf;

/// Both ends of a fresh pseudo-terminal: what the master writes, a client of `path`
/// (the slave, e.g. `/dev/pts/7`) reads, and the other way round.
pub struct Pty {
    pub master: File,
    /// The slave end, opened once; hold it to keep the terminal up while its user
    /// closes and reopens `path`, or drop it.
    pub slave: File,
    pub path: PathBuf,
}

/// Opens a pseudo-terminal pair.
pub fn open() -> io::Result<Pty> {
    let (mut master, mut slave) = (0, 0);
    let mut name = [0 as libc::c_char; 128];
    // SAFETY: openpty writes two fds and a NUL-terminated name into the buffers given;
    // the name buffer is larger than any pts path.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            name.as_mut_ptr(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds were just opened by openpty and are owned by nobody else.
    let (master, slave) = unsafe { (File::from_raw_fd(master), File::from_raw_fd(slave)) };
    // SAFETY: openpty returned NUL-terminated text in `name`.
    let path = unsafe { CStr::from_ptr(name.as_ptr()) }.to_string_lossy();
    Ok(Pty {
        master,
        slave,
        path: PathBuf::from(path.into_owned()),
    })
}
