//! `[uplink] format`: which wire the uplink speaks, and the keys that belong to it.

use super::error::{ConfigError, Loc};
use super::read::Reader;
use crate::site::UplinkFormat;

const FORMATS: [(&str, UplinkFormat); 3] = [
    ("sitewarden", UplinkFormat::Sitewarden),
    ("thingsboard", UplinkFormat::ThingsBoard),
    ("sparkplug", UplinkFormat::Sparkplug),
];

/// Reads `format` (default `sitewarden`) and refuses the keys that do not belong to
/// it: `topic_prefix` (given at `prefix`) names our own topics only.
pub(super) fn read(
    r: &mut Reader<'_, '_>,
    prefix: Option<Loc>,
    errors: &mut Vec<ConfigError>,
) -> UplinkFormat {
    let format = r
        .choice("format", "uplink format", &FORMATS, errors)
        .map_or(UplinkFormat::default(), |v| v.v);
    let own = match format {
        UplinkFormat::Sitewarden => None,
        UplinkFormat::ThingsBoard => Some("ThingsBoard's own (v1/gateway/…, v1/devices/me/…)"),
        UplinkFormat::Sparkplug => Some("Sparkplug's (spBv1.0/{site}/…/{gateway id})"),
    };
    if let (Some(own), Some(loc)) = (own, prefix) {
        errors.push(loc.error(format!(
            "`topic_prefix` does not apply to format `{}`: its topics are {own}",
            format.name()
        )));
    }
    format
}

/// `primary_host` (Sparkplug only): the host id of `spBv1.0/STATE/{host}`, one topic level.
pub(super) fn primary_host(
    r: &mut Reader<'_, '_>,
    format: UplinkFormat,
    errors: &mut Vec<ConfigError>,
) -> Option<String> {
    let host = r.get::<String>("primary_host", errors)?;
    if format != UplinkFormat::Sparkplug {
        errors.push(host.loc.error(format!(
            "`primary_host` belongs to format `sparkplug` (a Sparkplug host's STATE), \
             not to `{}`",
            format.name()
        )));
        return None;
    }
    if host.v.is_empty() || host.v.contains(['/', '+', '#', '\0']) {
        errors.push(host.loc.error(format!(
            "primary_host `{}` is not one topic level: not empty, no `/`, `+` or `#`",
            host.v.escape_debug()
        )));
        return None;
    }
    Some(host.v)
}
