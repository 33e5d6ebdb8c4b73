//! Configuration: `sitewarden.toml`, its profiles and the environment become one
//! validated `Site`, or every problem at once.
//!
//! # Stages
//!
//! 1. **Parse** (`toml::de::DeTable`): the text becomes a tree of spanned values. A
//!    syntax error stops here, with file:line:column. Only the first is reported: after
//!    it the parser's recovery guesses, and its guesses read as noise.
//! 2. **Read** (`file`, `rule`, over `read::Reader`): each table is read key by key into
//!    typed values that remember where they were written. `SITEWARDEN__SECTION__KEY`
//!    overrides (`env`) replace file values of `[gateway]`, `[uplink]` and `[buffer]`.
//!    Bad values, missing keys and unknown keys (with the nearest known key suggested)
//!    are all collected; reading goes on after each. How a single value is spelled (a
//!    broker URL, a UTC offset, a size) is `format`'s.
//! 3. **Calendar files** (`calendar`): a `[[calendar]]` with `file` reads its dates
//!    from that file, next to the configuration.
//! 4. **Profiles** (`profile`): every profile a device names is looked up once, in the
//!    profile directories and then among the shipped ones, and checked.
//! 5. **Validate** (`validate`): cross-references between tables, connection/profile
//!    fit, rule points and zones. Pure.
//!
//! A `Site` comes out only when no stage found a problem; otherwise `ConfigErrors`
//! lists them all, sorted by file and line. Nothing else in sitewarden reads TOML or
//! the environment, and nothing here starts tasks or opens devices.

mod commands;
mod http;
mod calendar;
mod env;
mod error;
mod file;
mod live;
mod format;
mod order;
mod patrol;
mod profile;
mod read;
mod rule;
mod secret;
mod text;
mod uplink_format;
mod validate;
mod warn;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use toml::de::DeTable;

pub use error::{ConfigError, ConfigErrors};
pub use secret::read_password;
pub use warn::{HTTP_OPEN_WARNING, warnings};

use crate::site::{Point, Site};
use error::Source;

/// Profiles a site may add or override, after `<config dir>/profiles/`.
pub const SYSTEM_PROFILE_DIR: &str = "/etc/sitewarden/profiles";

/// Reads `path`, applies the `SITEWARDEN__*` variables of the process environment,
/// resolves profiles (from `<config dir>/profiles/`, `/etc/sitewarden/profiles/`, then
/// the shipped ones) and validates.
pub fn load(path: &Path) -> Result<Site, ConfigErrors> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        ConfigErrors(vec![ConfigError {
            file: name.clone(),
            line: None,
            column: None,
            key: String::new(),
            message: format!("cannot read config file: {e}"),
        }])
    })?;
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter(|(k, _)| k.as_encoded_bytes().starts_with(b"SITEWARDEN"))
        .map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        })
        .collect();
    load_from(&text, &name, &env, &profile_dirs(path))
}

/// The profile directories searched for a config file at `path`, in order.
pub fn profile_dirs(path: &Path) -> Vec<PathBuf> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut dirs = vec![dir.join("profiles")];
    let system = PathBuf::from(SYSTEM_PROFILE_DIR);
    if !dirs.contains(&system) {
        dirs.push(system);
    }
    dirs
}

/// `load` without the process: the config text, its display name, the environment
/// variables to apply and the profile directories are all given.
pub fn load_from(
    text: &str,
    file_name: &str,
    env: &[(String, String)],
    profile_dirs: &[PathBuf],
) -> Result<Site, ConfigErrors> {
    let src = Source::new(file_name, text);
    let doc = DeTable::parse(text).map_err(|e| ConfigErrors(vec![src.syntax_error(&e)]))?;
    let mut errors = Vec::new();
    let env = env::overlay(env, &mut errors);
    let mut file = file::read(read::Reader::root(&src, &doc, &env), &mut errors);
    let config_dir = Path::new(file_name).parent().unwrap_or(Path::new(""));
    calendar::read_files(&mut file.calendars, config_dir, &mut errors);
    let names = file
        .devices
        .iter()
        .filter_map(|d| d.profile.as_ref())
        .map(|p| p.v.as_str());
    let profiles = profile::load_all(names, profile_dirs, &mut errors);
    match validate::site(file, &profiles, &mut errors) {
        Some(site) if errors.is_empty() => Ok(site),
        _ => {
            if errors.is_empty() {
                errors.push(
                    src.whole(String::new())
                        .error("configuration is incomplete"),
                );
            }
            Err(ConfigErrors::sorted(errors))
        }
    }
}

/// The points of one profile, looked up as `load` would (in `profile_dirs`, then the
/// shipped profiles): for `sitewarden probe --profile` without a config.
pub fn load_profile(name: &str, profile_dirs: &[PathBuf]) -> Result<Vec<Point>, ConfigErrors> {
    let mut errors = Vec::new();
    match profile::load(name, profile_dirs, &mut errors) {
        profile::Found::Profile(p) if errors.is_empty() => Ok(p.points.to_vec()),
        profile::Found::Missing(message) => Err(ConfigErrors(vec![ConfigError {
            file: String::from("profile"),
            line: None,
            column: None,
            key: String::new(),
            message,
        }])),
        _ => Err(ConfigErrors::sorted(errors)),
    }
}

/// Names of the profiles shipped inside the binary.
pub fn shipped_profiles() -> impl Iterator<Item = &'static str> {
    profile::SHIPPED.iter().map(|(name, _)| *name)
}
