//! Secrets the config names by path (`password_file`), read when a link is opened.

use std::path::Path;

/// Reads a one-line password file, the trailing newline stripped (an editor's or
/// `echo`'s), nothing else: a password may begin or end with spaces.
pub fn read_password(path: &Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(path)?
        .trim_end_matches(['\n', '\r'])
        .to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_line_end_is_stripped() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pw");
        std::fs::write(&p, " s3cret \r\n").unwrap();
        assert_eq!(super::read_password(&p).unwrap(), " s3cret ");
        let e = super::read_password(&dir.path().join("missing")).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound);
    }
}
