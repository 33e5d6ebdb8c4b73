//! The environment overlay: `SITEWARDEN__SECTION__KEY=value` sets a scalar key of
//! `[gateway]`, `[uplink]` or `[buffer]`, taking precedence over the file.
//!
//! This module only splits variable names and refuses malformed ones. Whether a key
//! exists, and the value's type, are decided by the reader of that section
//! (`read::Reader`), so the file and the environment share one list of keys. Never reads
//! the process environment itself: `config::load` passes it in.

use super::error::{ConfigError, Loc};

/// Sections whose scalar keys may be set from the environment. Arrays of tables
/// (`[[device]]` …) have no stable names to address, so they are file-only.
pub(super) const SECTIONS: [&str; 3] = ["gateway", "uplink", "buffer"];

/// The prefix of every variable this overlay owns.
const PREFIX: &str = "SITEWARDEN";

const MALFORMED: &str = "unknown variable, overrides are spelled SITEWARDEN__SECTION__KEY \
                         and only reach scalar keys of [gateway], [uplink] and [buffer]";

/// One override, split from its variable name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct EnvVar {
    /// The whole variable name, for error messages.
    pub(super) var: String,
    /// Lowercased section, one of `SECTIONS`.
    pub(super) section: String,
    /// Lowercased key within the section.
    pub(super) key: String,
    pub(super) value: String,
}

/// Picks the `SITEWARDEN*` variables out of `env`. Malformed names are errors; variables
/// without the prefix are not ours and are ignored.
pub(super) fn overlay(env: &[(String, String)], errors: &mut Vec<ConfigError>) -> Vec<EnvVar> {
    let mut vars = Vec::new();
    for (var, value) in env {
        let Some(rest) = var.strip_prefix(PREFIX) else {
            continue;
        };
        let at = Loc::env(var, String::new());
        let Some(rest) = rest.strip_prefix("__") else {
            if rest.is_empty() || rest.starts_with('_') {
                let hint = format!("{PREFIX}__{}", rest.trim_start_matches('_'));
                errors.push(at.error(format!(
                    "unknown variable, overrides are spelled SITEWARDEN__SECTION__KEY \
                     with two underscores (did you mean {hint}?)"
                )));
            }
            // Other names (`SITEWARDENX`) merely share the prefix and are not ours.
            continue;
        };
        let parts: Vec<&str> = rest.split("__").collect();
        let [section, key] = parts[..] else {
            errors.push(at.error(MALFORMED));
            continue;
        };
        if section.is_empty() || key.is_empty() {
            errors.push(at.error(MALFORMED));
            continue;
        }
        let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
        if !SECTIONS.contains(&section.as_str()) {
            errors.push(at.error(format!(
                "unknown variable, the environment can set keys of [gateway], [uplink] \
                 and [buffer] only, not [{section}]"
            )));
            continue;
        }
        vars.push(EnvVar {
            var: var.clone(),
            section,
            key,
            value: value.clone(),
        });
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits one variable and returns either the (section, key) or the error text.
    fn check(var: &str, expected: Result<(&str, &str), &str>) {
        let mut errors = Vec::new();
        let vars = overlay(&[(var.to_string(), "v".to_string())], &mut errors);
        match expected {
            Ok((section, key)) => {
                assert!(errors.is_empty(), "{var}: {errors:?}");
                assert_eq!(vars.len(), 1, "{var}");
                assert_eq!(
                    (vars[0].section.as_str(), vars[0].key.as_str()),
                    (section, key)
                );
            }
            Err(needle) => {
                assert!(vars.is_empty(), "{var}: {vars:?}");
                assert_eq!(errors.len(), 1, "{var}");
                assert_eq!(errors[0].file, format!("${var}"));
                assert!(
                    errors[0].message.contains(needle),
                    "{var}: {}",
                    errors[0].message
                );
            }
        }
    }

    #[test]
    fn splits_section_and_key_and_refuses_malformed_names() {
        check("SITEWARDEN__UPLINK__BROKER", Ok(("uplink", "broker")));
        check(
            "SITEWARDEN__UPLINK__SUMMARY_INTERVAL",
            Ok(("uplink", "summary_interval")),
        );
        check("SITEWARDEN__GATEWAY__ID", Ok(("gateway", "id")));
        check(
            "SITEWARDEN__BUFFER__RAW_MAX_BYTES",
            Ok(("buffer", "raw_max_bytes")),
        );
        check(
            "SITEWARDEN_UPLINK__BROKER",
            Err("did you mean SITEWARDEN__UPLINK__BROKER?"),
        );
        check("SITEWARDEN_X", Err("two underscores"));
        check("SITEWARDEN", Err("two underscores"));
        check("SITEWARDEN__DEVICE__0__UNIT", Err("only reach scalar keys"));
        check("SITEWARDEN__UPLINK", Err("only reach scalar keys"));
        check("SITEWARDEN__DEVICE__UNIT", Err("not [device]"));
        check("SITEWARDEN__UPLINK__", Err("only reach scalar keys"));
    }

    #[test]
    fn ignores_variables_that_are_not_ours() {
        let mut errors = Vec::new();
        let env = [
            ("PATH".to_string(), "/bin".to_string()),
            ("SITEWARDENX".to_string(), "1".to_string()),
        ];
        assert!(overlay(&env, &mut errors).is_empty());
        assert!(errors.is_empty());
    }
}
