//! `[[calendar]] file = "holidays.txt"`: a date list kept in its own file, one
//! `YYYY-MM-DD` a line (blank lines and `#` comments allowed), relative to the
//! configuration file's directory. Each bad line is an error naming its file and line.

use std::path::Path;

use jiff::civil::Date;

use super::error::ConfigError;
use super::file::CalendarFile;
use crate::localtime::parse_date;

/// Reads the file of every calendar that names one into its `dates`.
pub(super) fn read_files(
    calendars: &mut [CalendarFile],
    dir: &Path,
    errors: &mut Vec<ConfigError>,
) {
    for c in calendars.iter_mut() {
        let Some(file) = &c.file else { continue };
        let path = dir.join(&file.v);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let (dates, bad) = parse(&text);
                let name = path.display().to_string();
                for (line, message) in bad {
                    errors.push(ConfigError {
                        file: name.clone(),
                        line: Some(line),
                        column: None,
                        key: format!("calendar {}", c.name.v),
                        message,
                    });
                }
                c.dates = dates;
            }
            Err(e) => errors.push(
                (file.loc).error(format!("cannot read calendar file {}: {e}", path.display())),
            ),
        }
    }
}

/// The dates of a calendar file, sorted and without repeats, and its bad lines
/// (1-based line, message).
fn parse(text: &str) -> (Vec<Date>, Vec<(usize, String)>) {
    let mut dates = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        match parse_date(line) {
            Ok(d) => dates.push(d),
            Err(e) => bad.push((i + 1, e)),
        }
    }
    dates.sort();
    dates.dedup();
    (dates, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_date_a_line_with_comments_and_every_bad_line_named() {
        let (dates, bad) = parse(
            "# national holidays\n2026-10-02\n\n2026-10-01  # day one\n2026-10-01\n1 Oct\n2026-02-30\n",
        );
        let dates: Vec<String> = dates.iter().map(ToString::to_string).collect();
        assert_eq!(dates, ["2026-10-01", "2026-10-02"]);
        let lines: Vec<usize> = bad.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [6, 7]);
        assert!(bad[0].1.contains("`1 Oct` is not a date"), "{bad:?}");
    }

    #[test]
    fn a_calendar_file_next_to_the_config_is_read_and_a_missing_one_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("holidays.txt"), "2026-10-01\n").unwrap();
        let text = |file: &str| {
            format!(
                "[gateway]\nsite = \"s\"\nid = \"gw\"\n\n[uplink]\nbroker = \"mqtt://127.0.0.1\"\n\n\
                 [[calendar]]\nname = \"holidays\"\nfile = \"{file}\"\n"
            )
        };
        let config = dir.path().join("sitewarden.toml");
        let name = config.display().to_string();
        let site = crate::config::load_from(&text("holidays.txt"), &name, &[], &[]);
        assert!(site.is_ok(), "{:?}", site.err().map(|e| e.to_string()));
        let err = crate::config::load_from(&text("nope.txt"), &name, &[], &[]).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("cannot read calendar file") && err.contains("nope.txt"),
            "{err}"
        );
        std::fs::write(dir.path().join("bad.txt"), "2026-10-01\n2026/10/02\n").unwrap();
        let err = crate::config::load_from(&text("bad.txt"), &name, &[], &[]).unwrap_err();
        let err = err.to_string();
        assert!(err.contains("bad.txt:2"), "{err}");
    }
}
