//! Device profiles: the `[[point]]` maps of a device model, and where they are found.
//!
//! A profile named `turnstile` is `turnstile.toml` in the first of the profile
//! directories that has one (`<config dir>/profiles/`, then `/etc/sitewarden/profiles/`),
//! else the copy shipped inside the binary (`config/profiles/`), so the binary works
//! anywhere and a site can still override a shipped profile. Each profile is read and
//! checked once, however many devices use it; its errors name the profile's file. This
//! is the only part of `config` besides `load` that touches the file system.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::de::DeTable;

use super::error::{ConfigError, Source};
use super::format::{bad_name, unknown};
use super::order::parse_order;
use super::read::{Reader, Val};
use super::read::{check, positive};
use super::text::{string_type, text_point};
use crate::site::{ByteOrder, Camera, Point, PointKind, PointSource, PointType, Table};

/// The profiles shipped in the binary, by name.
pub(super) const SHIPPED: [(&str, &str); 8] = [
    (
        "turnstile",
        include_str!("../../config/profiles/turnstile.toml"),
    ),
    (
        "rs485-th",
        include_str!("../../config/profiles/rs485-th.toml"),
    ),
    (
        "fever-kiosk",
        include_str!("../../config/profiles/fever-kiosk.toml"),
    ),
    (
        "water-level",
        include_str!("../../config/profiles/water-level.toml"),
    ),
    ("camera", include_str!("../../config/profiles/camera.toml")),
    (
        "sound-level",
        include_str!("../../config/profiles/sound-level.toml"),
    ),
    (
        "tag-reader",
        include_str!("../../config/profiles/tag-reader.toml"),
    ),
    (
        "tag-reader-mqtt",
        include_str!("../../config/profiles/tag-reader-mqtt.toml"),
    ),
];

pub(super) const DEFAULT_HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(90);
const DEFAULT_EVENTS_TOPIC: &str = "cameras/{device}/events";
const DEFAULT_STATUS_TOPIC: &str = "cameras/{device}/status";

/// A checked profile.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Profile {
    pub(super) points: crate::site::Points,
    /// Present for camera profiles; topics still hold `{device}`.
    pub(super) camera: Option<Camera>,
}

impl Profile {
    /// The camera settings for one device, `{device}` replaced by its id.
    pub(super) fn camera_for(&self, device: &str) -> Option<Camera> {
        self.camera.as_ref().map(|c| Camera {
            events_topic: c.events_topic.replace("{device}", device),
            status_topic: c.status_topic.replace("{device}", device),
            heartbeat_timeout: c.heartbeat_timeout,
        })
    }
}

/// The outcome of looking a profile up.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    Profile(Profile),
    /// Found but refused; its errors are already pushed.
    Broken,
    /// Not found anywhere; the message says where we looked.
    Missing(String),
}

/// Looks up each distinct name once.
pub(super) fn load_all<'n>(
    names: impl IntoIterator<Item = &'n str>,
    dirs: &[PathBuf],
    errors: &mut Vec<ConfigError>,
) -> BTreeMap<String, Found> {
    let mut found = BTreeMap::new();
    for name in names {
        if !found.contains_key(name) {
            found.insert(name.to_string(), load(name, dirs, errors));
        }
    }
    found
}

/// Looks up one profile by name.
pub(super) fn load(name: &str, dirs: &[PathBuf], errors: &mut Vec<ConfigError>) -> Found {
    if let Some(message) = bad_name(name) {
        return Found::Missing(message);
    }
    for dir in dirs {
        let path = dir.join(format!("{name}.toml"));
        match std::fs::read_to_string(&path) {
            Ok(text) => return parse(&path.display().to_string(), &text, errors),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                errors.push(ConfigError {
                    file: path.display().to_string(),
                    line: None,
                    column: None,
                    key: String::new(),
                    message: format!("cannot read profile: {e}"),
                });
                return Found::Broken;
            }
        }
    }
    if let Some((_, text)) = SHIPPED.iter().find(|(n, _)| *n == name) {
        return parse(&format!("<built-in>/{name}.toml"), text, errors);
    }
    let mut known: Vec<String> = SHIPPED.iter().map(|(n, _)| n.to_string()).collect();
    for dir in dirs {
        for name in profiles_in(dir) {
            if !known.contains(&name) {
                known.push(name);
            }
        }
    }
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let mut message = unknown("profile", name, &known);
    if !searched.is_empty() {
        message.push_str(&format!(
            " (searched {} and the built-in profiles)",
            searched.join(", ")
        ));
    }
    Found::Missing(message)
}

/// Names of the `*.toml` files in `dir`.
fn profiles_in(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| {
            let path = e.ok()?.path();
            (path.extension()? == "toml").then_some(())?;
            Some(path.file_stem()?.to_str()?.to_string())
        })
        .collect()
}

/// Reads and checks the text of one profile.
pub(super) fn parse(file: &str, text: &str, errors: &mut Vec<ConfigError>) -> Found {
    let src = Source::new(file, text);
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            errors.push(src.syntax_error(&e));
            return Found::Broken;
        }
    };
    let before = errors.len();
    let mut root = Reader::root(&src, &doc, &[]);
    let is_camera = root.given("camera").is_some();
    let camera = if is_camera {
        let mut r = root.table("camera", errors);
        let camera = camera(&mut r, errors);
        r.finish(errors);
        camera
    } else {
        None
    };
    let mut points = Vec::new();
    let mut names: HashSet<String> = HashSet::new();
    for mut r in root.array("point", errors) {
        let name = r.required("name", errors, Reader::get::<String>);
        if let Some(n) = &name
            && !names.insert(n.v.clone())
        {
            errors.push(n.loc.error(format!("duplicate point name `{}`", n.v)));
        }
        if let Some(p) = point(&mut r, name, is_camera, errors) {
            if let Some(other) = overlapping_writable(&points, &p) {
                let at = r.given("address").unwrap_or_else(|| r.loc().clone());
                errors.push(at.error(format!(
                    "writable point `{}` overlaps writable point `{other}`: a command to one \
                     would change the other",
                    p.name
                )));
            }
            points.push(p);
        }
        r.finish(errors);
    }
    if points.is_empty() && errors.len() == before {
        let at = root.loc().with_key("point".to_string());
        errors.push(at.error("a profile needs at least one [[point]]"));
    }
    root.finish(errors);
    if errors.len() != before {
        return Found::Broken;
    }
    Found::Profile(Profile {
        points: points.into(),
        camera,
    })
}

/// The name of an earlier writable point whose registers (or coils) `p`'s overlap, when
/// `p` is writable itself.
fn overlapping_writable<'a>(earlier: &'a [Point], p: &Point) -> Option<&'a str> {
    let span = |q: &Point| match &q.source {
        PointSource::Modbus {
            table, address, ty, ..
        } if q.writable => {
            let first = u32::from(*address);
            Some((*table, first, first + u32::from(ty.registers()) - 1))
        }
        _ => None,
    };
    let (table, first, last) = span(p)?;
    earlier.iter().find_map(|q| {
        let (t, f, l) = span(q)?;
        (t == table && f <= last && first <= l).then_some(q.name.as_str())
    })
}

fn camera(r: &mut Reader<'_, '_>, errors: &mut Vec<ConfigError>) -> Option<Camera> {
    let mut topic = |key, default: &str, errors: &mut Vec<ConfigError>| {
        let t = check(r.get::<String>(key, errors), errors, |t| {
            if t.is_empty() || t.contains(['+', '#']) || t.split('/').any(str::is_empty) {
                Err(format!(
                    "`{t}` is not a usable topic: no wildcards or empty levels"
                ))
            } else {
                Ok(t.clone())
            }
        });
        t.map_or_else(|| default.to_string(), |t| t.v)
    };
    let events_topic = topic("events_topic", DEFAULT_EVENTS_TOPIC, errors);
    let status_topic = topic("status_topic", DEFAULT_STATUS_TOPIC, errors);
    let timeout = positive(r.duration("heartbeat_timeout", errors), errors);
    Some(Camera {
        events_topic,
        status_topic,
        heartbeat_timeout: timeout.map_or(DEFAULT_HEARTBEAT_TIMEOUT, |t| t.v),
    })
}

const TABLES: [(&str, Table); 4] = [
    ("coil", Table::Coil),
    ("discrete", Table::Discrete),
    ("input", Table::Input),
    ("holding", Table::Holding),
];

/// `string` stands for `PointType::Str(0)` until `registers` gives its length.
const TYPES: [(&str, PointType); 10] = [
    ("bool", PointType::Bool),
    ("u16", PointType::U16),
    ("i16", PointType::I16),
    ("u32", PointType::U32),
    ("i32", PointType::I32),
    ("f32", PointType::F32),
    ("u64", PointType::U64),
    ("i64", PointType::I64),
    ("f64", PointType::F64),
    ("string", PointType::Str(0)),
];

const KINDS: [(&str, PointKind); 6] = [
    ("gauge", PointKind::Gauge),
    ("counter", PointKind::Counter),
    ("state", PointKind::State),
    ("event", PointKind::Event),
    ("command", PointKind::Command),
    ("text", PointKind::Text),
];

const MODBUS_KEYS: [&str; 8] = [
    "table",
    "address",
    "type",
    "bit",
    "byte_order",
    "word_order",
    "writable",
    "registers",
];
const JSON_KEYS: [&str; 2] = ["pointer", "filter"];

fn point(
    r: &mut Reader<'_, '_>,
    name: Option<Val<String>>,
    is_camera: bool,
    errors: &mut Vec<ConfigError>,
) -> Option<Point> {
    let before = errors.len();
    if let Some(n) = &name {
        let ok = !n.v.is_empty()
            && (n.v.bytes())
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            errors.push(n.loc.error(format!(
                "`{}` is not a valid point name, use lowercase letters, digits, `_` and `-`",
                n.v
            )));
        }
    }
    let kind = r.required("kind", errors, |r, k, e| {
        r.choice(k, "point kind", &KINDS, e)
    });
    let scale = check(r.number("scale", errors), errors, |&s| {
        if s == 0.0 {
            Err("scale must not be 0".to_string())
        } else {
            Ok(s)
        }
    });
    let offset = r.number("offset", errors);
    let unit = r.get::<String>("unit", errors);
    let labels = labels(r, kind.as_ref(), errors);
    if let Some(k) = kind.as_ref().filter(|k| k.v == PointKind::Text) {
        text_point(r, k, is_camera, errors);
    }
    let (source, writable) = if is_camera {
        r.not_here(&MODBUS_KEYS, "to a camera point", errors);
        json_source(r, errors)
    } else {
        r.not_here(
            &JSON_KEYS,
            "to a Modbus point (camera profiles have a [camera] table)",
            errors,
        );
        modbus_source(r, kind.as_ref(), errors)
    };
    if errors.len() != before {
        return None;
    }
    Some(Point {
        name: name?.v,
        source: source?,
        scale: scale.map_or(1.0, |s| s.v),
        offset: offset.map_or(0.0, |o| o.v),
        unit: unit.map(|u| u.v),
        kind: kind?.v,
        writable,
        labels,
    })
}

/// `labels = {0 = "idle", 1 = "passing"}`: what each code of a state point means.
fn labels(
    r: &mut Reader<'_, '_>,
    kind: Option<&Val<PointKind>>,
    errors: &mut Vec<ConfigError>,
) -> Vec<(i64, String)> {
    let Some(given) = r.get::<BTreeMap<String, String>>("labels", errors) else {
        return Vec::new();
    };
    if let Some(k) = kind
        && k.v != PointKind::State
    {
        errors.push(given.loc.error("`labels` applies to a state point only"));
        return Vec::new();
    }
    let mut labels = Vec::with_capacity(given.v.len());
    for (code, label) in given.v {
        match code.parse::<i64>() {
            Ok(c) if !label.is_empty() => labels.push((c, label)),
            Ok(_) => errors.push(given.loc.error(format!("label of code {code} is empty"))),
            Err(_) => errors.push(given.loc.error(format!(
                "label key `{code}` is not a whole number; write the code, e.g. 0 = \"idle\""
            ))),
        }
    }
    labels.sort_by_key(|(c, _)| *c);
    labels
}

fn json_source(
    r: &mut Reader<'_, '_>,
    errors: &mut Vec<ConfigError>,
) -> (Option<PointSource>, bool) {
    let pointer = r.required("pointer", errors, Reader::get::<String>);
    let pointer = check(pointer, errors, |p| check_pointer(p).map(|()| p.clone()));
    let filter = check(
        r.get::<BTreeMap<String, String>>("filter", errors),
        errors,
        |f| {
            for p in f.keys() {
                check_pointer(p)?;
            }
            Ok(f.clone().into_iter().collect::<Vec<_>>())
        },
    );
    let source = pointer.map(|p| PointSource::Json {
        pointer: p.v,
        filter: filter.map(|f| f.v).unwrap_or_default(),
    });
    (source, false)
}

/// A JSON pointer (RFC 6901) is empty or starts with `/`.
fn check_pointer(p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "`{p}` is not a JSON pointer, write it as /field (e.g. /count)"
        ))
    }
}

fn modbus_source(
    r: &mut Reader<'_, '_>,
    kind: Option<&Val<PointKind>>,
    errors: &mut Vec<ConfigError>,
) -> (Option<PointSource>, bool) {
    let table = r.required("table", errors, |r, k, e| r.choice(k, "table", &TABLES, e));
    let address = r.required("address", errors, |r, k, e| r.int_in(k, 0..=65_535, e));
    let bit_given = r.given("bit").is_some();
    let bit = r.int_in("bit", 0..=15, errors);
    let ty = if bit_given {
        r.choice("type", "type", &TYPES, errors)
    } else {
        r.required("type", errors, |r, k, e| r.choice(k, "type", &TYPES, e))
    };
    let writable = r.get::<bool>("writable", errors);
    let is_writable = writable.as_ref().is_some_and(|w| w.v);
    let ty = match &bit {
        Some(b) => bit_type(b, ty, table.as_ref(), writable.as_ref(), errors),
        None => ty,
    };
    let ty = string_type(r, ty, kind, writable.as_ref(), errors);
    let order = byte_order(r, ty.as_ref().map(|t| t.v), errors);
    if let (Some(table), Some(ty)) = (&table, &ty)
        && !bit_given
        && table.v.is_bits() != (ty.v == PointType::Bool)
    {
        let message = if table.v.is_bits() {
            format!(
                "type {} does not fit a {} table, which holds bool only",
                ty.v.name(),
                table.v.name()
            )
        } else {
            format!(
                "type bool does not fit a {} table, use a coil or discrete table, \
                 or `bit = N` for one bit of the register",
                table.v.name()
            )
        };
        errors.push(ty.loc.error(message));
    }
    if let (Some(address), Some(ty)) = (&address, &ty) {
        let last = address.v + i64::from(ty.v.registers()) - 1;
        if last > 65_535 {
            errors.push(address.loc.error(format!(
                "{} at {} runs to {last}, past the last address 65535",
                ty.v.name(),
                address.v
            )));
        }
    }
    if let (Some(w), Some(table)) = (&writable, &table)
        && w.v
        && matches!(table.v, Table::Discrete | Table::Input)
    {
        errors.push(w.loc.error(format!(
            "a {} table is read-only, only coil and holding points can be writable",
            table.v.name()
        )));
    }
    if let Some(k) = kind
        && k.v == PointKind::Command
        && !is_writable
    {
        errors.push(k.loc.error("a command point must be writable = true"));
    }
    let address = address.and_then(|a| u16::try_from(a.v).ok());
    let source = match (table, address, ty) {
        (Some(table), Some(address), Some(ty)) => Some(PointSource::Modbus {
            table: table.v,
            address,
            ty: ty.v,
            order,
        }),
        _ => None,
    };
    (source, is_writable)
}

/// A `bit = N` point: a bool from bit N of one input or holding register, read only.
fn bit_type(
    bit: &Val<i64>,
    ty: Option<Val<PointType>>,
    table: Option<&Val<Table>>,
    writable: Option<&Val<bool>>,
    errors: &mut Vec<ConfigError>,
) -> Option<Val<PointType>> {
    let before = errors.len();
    if let Some(t) = &ty
        && t.v != PointType::Bool
    {
        errors.push(t.loc.error(format!(
            "a `bit` point is a bool, not {}; leave `type` out or write \"bool\"",
            t.v.name()
        )));
    }
    if let Some(t) = table
        && t.v.is_bits()
    {
        errors.push(bit.loc.error(format!(
            "`bit` picks a bit inside a register, but a {} table already holds single bits",
            t.v.name()
        )));
    }
    if let Some(w) = writable
        && w.v
    {
        errors.push(w.loc.error(
            "a bit inside a register cannot be written on its own; write the whole register as a u16 point",
        ));
    }
    (errors.len() == before).then(|| Val {
        v: PointType::Bit(bit.v as u8),
        loc: bit.loc.clone(),
    })
}

/// `byte_order` or `word_order` (the older name; both take every spelling), ABCD when
/// neither is given.
fn byte_order(
    r: &mut Reader<'_, '_>,
    ty: Option<PointType>,
    errors: &mut Vec<ConfigError>,
) -> ByteOrder {
    let bytes = r.get::<String>("byte_order", errors);
    let words = r.get::<String>("word_order", errors);
    let given = match (bytes, words) {
        (Some(b), Some(w)) => {
            errors.push(w.loc.error(
                "give `byte_order` or `word_order`, not both (they are two names for one setting)",
            ));
            Some(b)
        }
        (b, w) => b.or(w),
    };
    match (given, ty) {
        (Some(g), Some(ty)) => parse_order(&g.v, ty).unwrap_or_else(|m| {
            errors.push(g.loc.error(m));
            ByteOrder::ABCD
        }),
        _ => ByteOrder::ABCD,
    }
}
