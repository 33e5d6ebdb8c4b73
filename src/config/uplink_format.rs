//! `[uplink] format`: which wire the uplink speaks, and the keys that belong to it.

use super::error::{ConfigError, Loc};
use super::read::Reader;
use crate::site::UplinkFormat;

const FORMATS: [(&str, UplinkFormat); 2] = [
    ("sitewarden", UplinkFormat::Sitewarden),
    ("thingsboard", UplinkFormat::ThingsBoard),
];

/// Reads `format` (default `sitewarden`) and refuses the keys that do not belong to
/// it: `topic_prefix` (given at `prefix`) names our own topics only.
pub(super) fn read(
    r: &mut Reader<'_, '_>,
    prefix: Option<Loc>,
    errors: &mut Vec<ConfigError>,
) -> UplinkFormat {
    if let Some(loc) = r.given("format") {
        let written = r.get::<String>("format", errors);
        if written.as_ref().is_some_and(|w| w.v == "sparkplug") {
            errors.push(loc.error(
                "format `sparkplug` (Sparkplug B) is not built in this version; \
                 use `sitewarden` or `thingsboard`",
            ));
            return UplinkFormat::default();
        }
    }
    let format = r
        .choice("format", "uplink format", &FORMATS, errors)
        .map_or(UplinkFormat::default(), |v| v.v);
    if format == UplinkFormat::ThingsBoard
        && let Some(loc) = prefix
    {
        errors.push(loc.error(
            "`topic_prefix` does not apply to format `thingsboard`: its topics are \
             ThingsBoard's own (v1/gateway/…, v1/devices/me/…)",
        ));
    }
    format
}
