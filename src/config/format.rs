//! How single values are spelled: names, broker URLs, `host:port`, topic prefixes,
//! UTC offsets, times of day, sizes and environment values, and the nearest-word
//! suggestion for a misspelling.
//!
//! Pure functions from text to value or to a lowercase error message; where the text
//! was written is the caller's concern.

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::de::ValueDeserializer;

use crate::site::BrokerUrl;

/// The Modbus TCP port, when an address names none.
const DEFAULT_MODBUS_PORT: u16 = 502;

/// Why `name` is not a valid `[a-z0-9-]+` name, if it is not.
pub(super) fn bad_name(name: &str) -> Option<String> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    (!ok).then(|| format!("`{name}` is not a valid name, use lowercase letters, digits and `-`"))
}

/// "unknown table `holdings` (did you mean `holding`?), expected one of: …"
pub(super) fn unknown(what: &str, given: &str, options: &[&str]) -> String {
    if options.is_empty() {
        return format!("unknown {what} `{given}`, none is defined");
    }
    let list = options.join(", ");
    match closest(given, options) {
        Some(k) => {
            format!("unknown {what} `{given}` (did you mean `{k}`?), expected one of: {list}")
        }
        None => format!("unknown {what} `{given}`, expected one of: {list}"),
    }
}

/// "a gauge", "an event".
pub(super) fn a(word: &str) -> String {
    let article = if word.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    };
    format!("{article} {word}")
}

/// The candidate nearest to `given` in edit distance (a swap of two neighbours counts
/// as one edit), if it is near enough to be a plausible typo.
pub(super) fn closest<'c>(given: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = given.chars().count().div_ceil(3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(given, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance between `a` and `b`.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// `mqtt://host[:port]` or `mqtts://host[:port]`; ports default to 1883 and 8883.
pub(super) fn parse_broker(s: &str) -> Result<BrokerUrl, String> {
    let (tls, rest) = if let Some(rest) = s.strip_prefix("mqtts://") {
        (true, rest)
    } else if let Some(rest) = s.strip_prefix("mqtt://") {
        (false, rest)
    } else {
        return Err(format!(
            "`{s}` is not a broker URL, use mqtt://host[:port] or mqtts://host[:port]"
        ));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('@') {
        return Err("credentials do not belong in the URL, use username and password_file".into());
    }
    if rest.contains('/') || rest.contains('?') {
        return Err(format!(
            "`{s}` has a path, a broker URL is only mqtt[s]://host[:port]"
        ));
    }
    let default_port = if tls { 8883 } else { 1883 };
    let (host, port) = split_host_port(rest, default_port)?;
    Ok(BrokerUrl { tls, host, port })
}

/// A Modbus TCP `host:port` (port 502 when omitted), returned with its port spelled out.
pub(super) fn parse_address(s: &str) -> Result<String, String> {
    let (host, port) = split_host_port(s, DEFAULT_MODBUS_PORT)?;
    Ok(if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    })
}

/// Splits `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("`{s}` has an unclosed `[`"))?;
        (host, after.strip_prefix(':'))
    } else {
        match s.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(format!("`{s}` has no usable host"));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(|| format!("`{p}` is not a port number (1..=65535)"))?,
    };
    Ok((host.to_string(), port))
}

/// Topic levels are joined with `/`; wildcards and empty levels would break every topic.
pub(super) fn check_topic_prefix(s: &str) -> Result<(), String> {
    if s.is_empty() || s.split('/').any(str::is_empty) || s.contains(['+', '#', '\0']) {
        Err(format!(
            "`{s}` is not a usable topic prefix: no empty levels, no leading or trailing `/`, no `+` or `#`"
        ))
    } else if s.len() > MAX_TOPIC_PREFIX {
        Err(format!(
            "a topic prefix of {} bytes cannot fit an MQTT topic (at most {MAX_TOPIC_PREFIX} bytes, \
             leaving room for `/summary/<device>` within the 65535 an MQTT topic may have)",
            s.len()
        ))
    } else {
        Ok(())
    }
}

/// Longest `uplink.topic_prefix`: an MQTT topic holds 65535 bytes, and the suffixes
/// (`/summary/<device id>`, `/zone/<zone>`) need room too.
pub(super) const MAX_TOPIC_PREFIX: usize = 65535 - 4096;

/// `+08:00` → 28800 seconds east of UTC.
pub(super) fn parse_utc_offset(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a UTC offset, write it as +08:00 or -05:30");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let secs = parse_hh_mm(rest).ok_or_else(bad)?;
    if secs > 14 * 3600 {
        return Err(format!("`{s}` is beyond the ±14:00 of any time zone"));
    }
    Ok(sign * secs)
}

/// `04:00` → 14400 seconds after midnight.
pub(super) fn parse_time_of_day(s: &str) -> Result<i64, String> {
    parse_hh_mm(s)
        .ok_or_else(|| format!("`{s}` is not a time of day, write it as HH:MM (00:00 to 23:59)"))
}

fn parse_hh_mm(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    let digits = |x: &str| x.len() == 2 && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(h) || !digits(m) {
        return None;
    }
    let h: i64 = h.parse().ok().filter(|h| (0..24).contains(h))?;
    let m: i64 = m.parse().ok().filter(|m| (0..60).contains(m))?;
    Some(h * 3600 + m * 60)
}

/// A size as written: a number of bytes or a text such as `256MiB`.
pub(super) enum Size {
    Bytes(u64),
    Text(String),
}

impl<'de> serde::Deserialize<'de> for Size {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Size;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a size such as \"256MiB\" or a number of bytes")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Size, E> {
                Ok(Size::Bytes(v))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Size, E> {
                u64::try_from(v)
                    .map(Size::Bytes)
                    .map_err(|_| E::custom(format!("{v} is not a size")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Size, E> {
                Ok(Size::Text(v.to_string()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Decodes an override as the key's type: as a plain string first (names, URLs,
/// durations), then as a TOML value (numbers, booleans).
pub(super) fn from_env<T: DeserializeOwned>(value: &str) -> Result<T, String> {
    let as_string: Result<T, serde::de::value::Error> =
        T::deserialize(value.to_string().into_deserializer());
    let string_error = match as_string {
        Ok(v) => return Ok(v),
        Err(e) => e.to_string(),
    };
    match ValueDeserializer::parse(value) {
        Ok(de) => T::deserialize(de).map_err(|e| plain(e.message())),
        Err(_) => Err(plain(&string_error)),
    }
}

/// Serde's type names, said as a technician would: "expected i64" becomes "expected an
/// integer".
pub(super) fn plain(message: &str) -> String {
    const WORDS: [(&str, &str); 8] = [
        ("expected i64", "expected an integer"),
        ("expected u16", "expected an integer from 0 to 65535"),
        ("expected f64", "expected a number"),
        ("expected a boolean", "expected true or false"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("invalid type: map", "invalid type: table"),
        ("invalid type: sequence", "invalid type: array"),
    ];
    WORDS
        .iter()
        .fold(message.to_string(), |m, (from, to)| m.replace(from, to))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_nearest_known_key_for_plausible_typos_only() {
        let keys = [
            "id",
            "profile",
            "connection",
            "unit",
            "poll",
            "zone",
            "max_gap",
        ];
        let check = |given: &str, expected: Option<&str>| {
            assert_eq!(closest(given, &keys), expected, "{given}");
        };
        check("unti", Some("unit"));
        check("profil", Some("profile"));
        check("conection", Some("connection"));
        check("pol", Some("poll"));
        check("zoen", Some("zone"));
        check("max-gap", Some("max_gap"));
        check("baud", None);
        check("colour", None);
    }

    #[test]
    fn names_are_lowercase_letters_digits_and_dashes() {
        for good in ["xitang", "gw-north", "kiosk-1", "0"] {
            assert_eq!(bad_name(good), None, "{good}");
        }
        for bad in ["", "Gate-1", "gate_1", "gate 1", "gaté"] {
            assert!(bad_name(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn broker_urls_take_mqtt_schemes_and_default_ports() {
        let check = |url: &str, expected: Result<(bool, &str, u16), &str>| {
            let got = parse_broker(url).map(|b| (b.tls, b.host, b.port));
            match expected {
                Ok((tls, host, port)) => {
                    assert_eq!(got, Ok((tls, host.to_string(), port)), "{url}")
                }
                Err(part) => match got {
                    Err(e) => assert!(e.contains(part), "{url}: {e}"),
                    Ok(b) => panic!("{url} accepted as {b:?}"),
                },
            }
        };
        check("mqtt://broker.lan", Ok((false, "broker.lan", 1883)));
        check(
            "mqtts://platform.example",
            Ok((true, "platform.example", 8883)),
        );
        check(
            "mqtts://platform.example:9883",
            Ok((true, "platform.example", 9883)),
        );
        check("mqtt://10.0.0.5:1884/", Ok((false, "10.0.0.5", 1884)));
        check("mqtt://[fd00::5]:1883", Ok((false, "fd00::5", 1883)));
        check("tcp://broker.lan", Err("not a broker URL"));
        check("broker.lan:1883", Err("not a broker URL"));
        check("mqtt://", Err("no usable host"));
        check("mqtt://h:0", Err("not a port number"));
        check("mqtt://h:x", Err("not a port number"));
        check("mqtt://h/topic", Err("has a path"));
        check("mqtt://user:pw@h", Err("credentials"));
    }

    #[test]
    fn modbus_addresses_get_port_502_when_none_is_given() {
        let check = |s: &str, expected: Result<&str, &str>| match (parse_address(s), expected) {
            (Ok(a), Ok(e)) => assert_eq!(a, e, "{s}"),
            (Err(a), Err(e)) => assert!(a.contains(e), "{s}: {a}"),
            (got, _) => panic!("{s}: {got:?}"),
        };
        check("192.168.10.20:502", Ok("192.168.10.20:502"));
        check("192.168.10.20", Ok("192.168.10.20:502"));
        check("gate-converter.lan:5020", Ok("gate-converter.lan:5020"));
        check("[fd00::20]", Ok("[fd00::20]:502"));
        check("[fd00::20]:503", Ok("[fd00::20]:503"));
        check(":502", Err("no usable host"));
        check("10.0.0.1:65536", Err("not a port number"));
        check("[fd00::20", Err("unclosed"));
    }

    #[test]
    fn utc_offsets_and_times_of_day_are_hh_mm() {
        let offset = |s: &str| parse_utc_offset(s).ok();
        assert_eq!(offset("+08:00"), Some(8 * 3600));
        assert_eq!(offset("-05:30"), Some(-(5 * 3600 + 1800)));
        assert_eq!(offset("+00:00"), Some(0));
        assert_eq!(offset("+14:00"), Some(14 * 3600));
        for bad in [
            "08:00", "+8:00", "+08", "+15:00", "+08:60", "+0a:00", "Z", "",
        ] {
            assert_eq!(offset(bad), None, "{bad}");
        }
        let time = |s: &str| parse_time_of_day(s).ok();
        assert_eq!(time("04:00"), Some(4 * 3600));
        assert_eq!(time("23:59"), Some(23 * 3600 + 59 * 60));
        assert_eq!(time("00:00"), Some(0));
        for bad in ["24:00", "4:00", "04:0", "4am", "-1:00", "+4:00"] {
            assert_eq!(time(bad), None, "{bad}");
        }
    }

    #[test]
    fn topic_prefixes_have_no_wildcards_or_empty_levels() {
        for good in ["sitewarden", "acme/sitewarden", "a-b_c"] {
            assert!(check_topic_prefix(good).is_ok(), "{good}");
        }
        for bad in ["", "/sitewarden", "sitewarden/", "a//b", "a/+", "a/#"] {
            assert!(check_topic_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn env_values_decode_as_the_type_of_their_key() {
        assert_eq!(from_env::<String>("gw-north"), Ok("gw-north".to_string()));
        assert_eq!(from_env::<String>("123"), Ok("123".to_string()));
        assert_eq!(from_env::<u16>("200"), Ok(200));
        assert_eq!(from_env::<bool>("true"), Ok(true));
        assert_eq!(from_env::<f64>("0.5"), Ok(0.5));
        assert!(from_env::<u16>("lots").is_err());
        assert!(from_env::<u16>("70000").is_err());
    }
}
