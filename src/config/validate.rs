//! Cross-references: the read file tables plus their profiles become a `Site`.
//!
//! Checks what no single key can: duplicate names, a device's profile, connection and
//! zone, whether the connection suits the profile (a camera needs an mqtt connection),
//! a unit id for every Modbus device and none for cameras; and for rules: each glob
//! matches a device, the point (and trigger) exist on every matched device with a
//! fitting kind, and zones exist. Every problem is pushed; a `Site` comes out only when
//! there are none. Pure: no I/O, no clock, no environment.

use std::collections::{BTreeMap, HashMap, HashSet};

use jiff::civil::Date;

use super::error::{ConfigError, Loc};
use super::file::{
    CalendarFile, CellFile, ConnectionFile, DEFAULT_POLL, DeviceFile, FileConfig,
    MAX_REGISTERS_PER_READ,
};
use super::format::{a, unknown};
use super::profile::{Found, Profile};
use super::read::Val;
use super::rule::{ActiveFile, RuleFile, RuleType};
use crate::localtime::Active;
use crate::site::{
    Cell, Connection, ConnectionKind, Device, Point, PointKind, PointSource, RuleDef, Site,
    glob_match,
};

/// Names that must be unique among their kind: one error at each repeat.
fn unique_names(file: &FileConfig, errors: &mut Vec<ConfigError>) {
    duplicates(
        file.connections.iter().map(|c| &c.name),
        "connection name",
        errors,
    );
    duplicates(file.zones.iter().map(|z| &z.name), "zone name", errors);
    duplicates(
        file.devices.iter().filter_map(|d| d.id.as_ref()),
        "device id",
        errors,
    );
    duplicates(file.cells.iter().map(|c| &c.name), "cell name", errors);
    duplicates(
        file.calendars.iter().map(|c| &c.name),
        "calendar name",
        errors,
    );
    duplicates(file.patrols.iter().map(|p| &p.name), "patrol name", errors);
}

/// The profile a device names, when it loaded; a missing one is an error at the name.
fn profile_of<'a>(
    d: &DeviceFile,
    profiles: &'a BTreeMap<String, Found>,
    errors: &mut Vec<ConfigError>,
) -> Option<&'a Profile> {
    let p = d.profile.as_ref()?;
    match profiles.get(&p.v) {
        Some(Found::Profile(profile)) => Some(profile),
        Some(Found::Missing(message)) => {
            errors.push(p.loc.error(message.clone()));
            None
        }
        Some(Found::Broken) | None => None,
    }
}

pub(super) fn site(
    file: FileConfig,
    profiles: &BTreeMap<String, Found>,
    errors: &mut Vec<ConfigError>,
) -> Option<Site> {
    unique_names(&file, errors);
    let zone_names: Vec<&str> = file.zones.iter().map(|z| z.name.v.as_str()).collect();
    let cell_names: Vec<&str> = file.cells.iter().map(|c| c.name.v.as_str()).collect();

    let mut devices = Vec::new();
    let mut views = Vec::new();
    // Per device of the file: its id and, when it validated, its index in `devices`.
    let mut built: Vec<(&str, Option<usize>)> = Vec::new();
    for d in &file.devices {
        let profile = profile_of(d, profiles, errors);
        let one = device(d, profile, &file.connections, &zone_names, errors);
        if let Some(id) = &d.id {
            built.push((&id.v, one.is_some().then_some(devices.len())));
        }
        devices.extend(one);
        if let Some(c) = &d.cell
            && !cell_names.contains(&c.v.as_str())
        {
            errors.push(c.loc.error(unknown("cell", &c.v, &cell_names)));
        }
        views.extend(view(d, profile, &file.cells));
    }
    let cells = cells(&file, errors);
    let sites = Sites {
        zones: &zone_names,
        cells: &file.cells,
        calendars: &file.calendars,
    };
    let rules = resolve_rules(file.rules, &views, &sites, errors);
    let readers: Vec<(&str, Option<&Device>)> = (built.iter())
        .map(|(id, i)| (*id, i.map(|i| &devices[i])))
        .collect();
    let patrols = super::patrol::resolve(file.patrols, &readers, errors);

    let connections: Option<Vec<Connection>> = (file.connections.iter())
        .map(|c| {
            c.kind.clone().map(|kind| Connection {
                name: c.name.v.clone(),
                kind,
            })
        })
        .collect();
    let zones: Option<Vec<_>> = file.zones.into_iter().map(|z| z.zone).collect();
    if !errors.is_empty() {
        return None;
    }
    // The site lives as long as the daemon: no growth headroom (up to 40 % of these two).
    let mut connections = connections?;
    connections.shrink_to_fit();
    devices.shrink_to_fit();
    Some(Site {
        gateway: file.gateway?,
        uplink: file.uplink?,
        buffer: file.buffer,
        connections,
        devices,
        zones: zones?,
        cells: cells?,
        rules,
        http: file.http.clone(),
        patrols,
    })
}

/// The cells with their devices (by index: with no errors, every device of the file
/// became a `Device`, in file order).
fn cells(file: &FileConfig, errors: &[ConfigError]) -> Option<Vec<Cell>> {
    if !errors.is_empty() {
        return None;
    }
    (file.cells.iter())
        .map(|c| {
            Some(Cell {
                name: c.name.v.clone(),
                kind: c.kind.as_ref()?.v.clone(),
                owner: c.owner.clone(),
                key_point: c.key_point,
                devices: (file.devices.iter().enumerate())
                    .filter(|(_, d)| d.cell.as_ref().is_some_and(|x| x.v == c.name.v))
                    .map(|(i, _)| i)
                    .collect(),
            })
        })
        .collect()
}

/// Checks one device against its profile, connection and zone; the `Device` when all
/// of it is sound.
fn device(
    d: &DeviceFile,
    profile: Option<&Profile>,
    connections: &[ConnectionFile],
    zone_names: &[&str],
    errors: &mut Vec<ConfigError>,
) -> Option<Device> {
    let conn_names: Vec<&str> = connections.iter().map(|c| c.name.v.as_str()).collect();
    let conn = d.connection.as_ref().and_then(|c| {
        let index = conn_names.iter().position(|n| *n == c.v);
        if index.is_none() {
            errors.push(c.loc.error(unknown("connection", &c.v, &conn_names)));
        }
        index
    });
    let conn_kind = conn.and_then(|i| connections[i].kind.as_ref());
    if let (Some(p), Some(kind), Some(c)) = (profile, conn_kind, &d.connection) {
        suits(p, d.profile.as_ref(), kind, c, errors);
    }
    let is_camera = profile
        .map(|p| p.camera.is_some())
        .or_else(|| conn_kind.map(|k| matches!(k, ConnectionKind::Mqtt { .. })));
    match is_camera {
        Some(false) if !d.unit_given => errors.push(
            d.loc
                .with_key(format!("{}.unit", d.loc.key))
                .error("missing key `unit` (the Modbus unit id, 1..=247)"),
        ),
        Some(true) => {
            let given = [
                ("unit", d.unit.as_ref().map(|v| &v.loc)),
                ("poll", d.poll.as_ref().map(|v| &v.loc)),
                (
                    "max_registers_per_read",
                    d.max_registers_per_read.as_ref().map(|v| &v.loc),
                ),
                ("max_gap", d.max_gap.as_ref().map(|v| &v.loc)),
            ];
            for (key, loc) in given {
                if let Some(loc) = loc {
                    errors.push(loc.error(format!(
                        "`{key}` does not apply to a camera device, it publishes on its own"
                    )));
                }
            }
        }
        _ => {}
    }
    if let Some(z) = &d.zone
        && !zone_names.contains(&z.v.as_str())
    {
        errors.push(z.loc.error(unknown("zone", &z.v, zone_names)));
    }
    let (true, Some(p), Some(connection), Some(id), Some(name)) =
        (d.clean, profile, conn, &d.id, &d.profile)
    else {
        return None;
    };
    Some(Device {
        id: id.v.clone(),
        profile: name.v.clone(),
        connection,
        unit: d.unit.as_ref().map_or(0, |u| u.v),
        poll: d.poll.as_ref().map_or(DEFAULT_POLL, |p| p.v),
        zone: d.zone.as_ref().map(|z| z.v.clone()),
        max_registers_per_read: (d.max_registers_per_read.as_ref())
            .map_or(MAX_REGISTERS_PER_READ as u16, |m| m.v),
        max_gap: d.max_gap.as_ref().map_or(0, |g| g.v),
        points: p.points.clone(),
        camera: p.camera_for(&id.v),
        live: d.live.as_ref().map(|l| l.v),
    })
}

/// A camera profile needs an mqtt connection; a Modbus profile a Modbus one.
fn suits(
    profile: &Profile,
    name: Option<&Val<String>>,
    kind: &ConnectionKind,
    conn: &Val<String>,
    errors: &mut Vec<ConfigError>,
) {
    let name = name.map_or("", |n| n.v.as_str());
    let kind_name = match kind {
        ConnectionKind::ModbusTcp { .. } => "modbus-tcp",
        ConnectionKind::ModbusRtu { .. } => "modbus-rtu",
        ConnectionKind::ModbusRtuOverTcp { .. } => "modbus-rtu-over-tcp",
        ConnectionKind::Mqtt { .. } => "mqtt",
    };
    let is_mqtt = matches!(kind, ConnectionKind::Mqtt { .. });
    let message = match (profile.camera.is_some(), is_mqtt) {
        (true, false) => format!(
            "profile `{name}` is a camera profile and needs an mqtt connection, `{}` is {kind_name}",
            conn.v
        ),
        (false, true) => format!(
            "profile `{name}` is a Modbus profile and needs a modbus-tcp, modbus-rtu or \
             modbus-rtu-over-tcp connection, `{}` is mqtt",
            conn.v
        ),
        _ => return,
    };
    errors.push(conn.loc.error(message));
}

/// Every repeat of a name is an error pointing back at the first.
/// Two devices answering to one unit id on one connection: every poll of one would read
/// the other. Reported at the second one's `unit`.
fn duplicates<'v>(
    names: impl Iterator<Item = &'v Val<String>>,
    what: &str,
    errors: &mut Vec<ConfigError>,
) {
    let mut first: HashMap<&str, &Loc> = HashMap::new();
    for name in names {
        match first.get(name.v.as_str()) {
            Some(at) => {
                let line = at
                    .line
                    .map_or(String::new(), |l| format!(", first at line {l}"));
                errors.push(
                    name.loc
                        .error(format!("duplicate {what} `{}`{line}", name.v)),
                );
            }
            None => {
                first.insert(&name.v, &name.loc);
            }
        }
    }
}

/// What rules see of a device of the file: its id, its profile's points, its cell.
fn view<'a>(
    d: &'a DeviceFile,
    profile: Option<&'a Profile>,
    cells: &'a [CellFile],
) -> Option<DeviceView<'a>> {
    let id = d.id.as_ref()?;
    let cell = (d.cell.as_ref())
        .and_then(|c| cells.iter().find(|f| f.name.v == c.v))
        .map(|c| {
            (
                c.name.v.as_str(),
                c.kind.as_ref().map_or("", |k| k.v.as_str()),
            )
        });
    Some(DeviceView {
        id: &id.v,
        points: profile.map(|p| &p.points[..]),
        cell,
    })
}

/// A device as rules see it: its id, its points when its profile resolved, and its
/// cell's name and kind.
struct DeviceView<'a> {
    id: &'a str,
    points: Option<&'a [Point]>,
    cell: Option<(&'a str, &'a str)>,
}

/// What rules may name besides devices.
struct Sites<'a> {
    zones: &'a [&'a str],
    cells: &'a [CellFile],
    calendars: &'a [CalendarFile],
}

impl Sites<'_> {
    /// The dates of calendar `name`, or an error naming the calendars there are.
    fn calendar(&self, name: &Val<String>, errors: &mut Vec<ConfigError>) -> Vec<Date> {
        match self.calendars.iter().find(|c| c.name.v == name.v) {
            Some(c) => c.dates.clone(),
            None => {
                let names: Vec<&str> = self.calendars.iter().map(|c| c.name.v.as_str()).collect();
                errors.push(name.loc.error(unknown("calendar", &name.v, &names)));
                Vec::new()
            }
        }
    }

    fn active(&self, a: ActiveFile, errors: &mut Vec<ConfigError>) -> Active {
        let dates = a.dates.as_ref().map(|d| self.calendar(d, errors));
        let except = a.except.as_ref().map(|d| self.calendar(d, errors));
        Active {
            spans: a.spans,
            days: a.days,
            dates: dates.unwrap_or_default(),
            dates_name: a.dates.map(|d| d.v),
            except: except.unwrap_or_default(),
            except_name: a.except.map(|d| d.v),
        }
    }

    /// Checks `cells` and `cell_kinds` of a rule: every glob matches a cell, every kind
    /// is one some cell has.
    fn check_cells(&self, rule: &RuleFile, errors: &mut Vec<ConfigError>) {
        if let Some(globs) = &rule.cells {
            for (i, g) in globs.v.iter().enumerate() {
                if !self.cells.iter().any(|c| glob_match(g, &c.name.v)) {
                    let at = globs.loc.with_key(format!("{}.cells[{i}]", rule.loc.key));
                    errors.push(at.error(format!("`{g}` matches no cell")));
                }
            }
        }
        if let Some(kinds) = &rule.cell_kinds {
            let mut known: Vec<&str> = (self.cells.iter())
                .filter_map(|c| c.kind.as_ref().map(|k| k.v.as_str()))
                .collect();
            known.sort_unstable();
            known.dedup();
            for (i, k) in kinds.v.iter().enumerate() {
                if !known.contains(&k.as_str()) {
                    let at = kinds
                        .loc
                        .with_key(format!("{}.cell_kinds[{i}]", rule.loc.key));
                    errors.push(at.error(unknown("cell kind", k, &known)));
                }
            }
        }
    }
}

/// Whether a device stands in the cells a rule names (always, when it names none).
fn in_cells(rule: &RuleFile, d: &DeviceView<'_>) -> bool {
    if rule.cells.is_none() && rule.cell_kinds.is_none() {
        return true;
    }
    let Some((name, kind)) = d.cell else {
        return false;
    };
    rule.cells
        .as_ref()
        .is_none_or(|g| g.v.iter().any(|g| glob_match(g, name)))
        && rule
            .cell_kinds
            .as_ref()
            .is_none_or(|k| k.v.iter().any(|k| k == kind))
}

/// The devices a rule judges: its globs' matches, narrowed to its cells; every glob
/// that matches nothing, and a narrowing that leaves nothing, is an error.
fn matched_devices<'v, 'a>(
    rule: &RuleFile,
    globs: &[String],
    devices: &'v [DeviceView<'a>],
    sites: &Sites<'_>,
    before: usize,
    errors: &mut Vec<ConfigError>,
) -> Vec<&'v DeviceView<'a>> {
    let mut matched: Vec<&DeviceView<'_>> = Vec::new();
    for (i, glob) in globs.iter().enumerate() {
        let hits: Vec<&DeviceView<'_>> =
            devices.iter().filter(|d| glob_match(glob, d.id)).collect();
        if hits.is_empty() {
            let at = rule.devices.as_ref().map_or(&rule.loc, |d| &d.loc);
            let at = at.with_key(format!("{}.devices[{i}]", rule.loc.key));
            errors.push(at.error(format!("`{glob}` matches no device")));
        }
        for d in hits {
            if !matched.iter().any(|m| m.id == d.id) {
                matched.push(d);
            }
        }
    }
    sites.check_cells(rule, errors);
    let narrowed = rule.cells.is_some() || rule.cell_kinds.is_some();
    if narrowed && !matched.is_empty() {
        matched.retain(|d| in_cells(rule, d));
        if matched.is_empty() && errors.len() == before {
            let at =
                (rule.cells.as_ref().or(rule.cell_kinds.as_ref())).map_or(&rule.loc, |v| &v.loc);
            errors.push(at.error("no device the rule's `devices` match stands in these cells"));
        }
    }
    matched
}

/// The rule's `point` and `trigger` exist, with the kind the rule needs, on every device
/// it judges.
fn check_points(rule: &RuleFile, matched: &[&DeviceView<'_>], errors: &mut Vec<ConfigError>) {
    if let Some(point) = &rule.point {
        let want = match rule.ty {
            Some(RuleType::Counter) => Some(PointKind::Counter),
            Some(RuleType::Event) => Some(PointKind::Event),
            _ => None,
        };
        check_point(point, "point", want, matched, errors);
        if let Some(at) = &rule.clear_after_at {
            check_camera_point(point, at, matched, errors);
        }
    }
    if let Some(trigger) = &rule.trigger {
        check_point(
            trigger,
            "trigger",
            Some(PointKind::Counter),
            matched,
            errors,
        );
    }
}

/// Checks every rule against the devices and zones, and returns the valid ones.
fn resolve_rules(
    rules: Vec<RuleFile>,
    devices: &[DeviceView<'_>],
    sites: &Sites<'_>,
    errors: &mut Vec<ConfigError>,
) -> Vec<RuleDef> {
    let zones = sites.zones;
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = Vec::new();
    for rule in rules {
        let before = errors.len();
        if !seen.insert(rule.name.v.clone()) {
            errors.push(
                rule.name
                    .loc
                    .error(format!("duplicate rule name `{}`", rule.name.v)),
            );
        }
        if let Some(zone) = &rule.zone
            && !zones.contains(&zone.v.as_str())
        {
            errors.push(zone.loc.error(unknown("zone", &zone.v, zones)));
        }
        // A refused `devices` list matches nothing rather than everything, so its one
        // error is not followed by "no point on ..." for every other device.
        let globs = match (&rule.devices, rule.ty) {
            (_, Some(RuleType::Capacity)) => Vec::new(),
            (Some(d), _) => d.v.clone(),
            (None, _) if rule.devices_given => Vec::new(),
            (None, _) => vec!["*".to_string()],
        };
        let matched = matched_devices(&rule, &globs, devices, sites, before, errors);
        check_points(&rule, &matched, errors);
        let active = rule.active.map(|a| sites.active(a, errors));
        if errors.len() != before {
            continue;
        }
        let Some(kind) = rule.kind else { continue };
        out.push(RuleDef {
            name: rule.name.v,
            devices: globs,
            cells: rule.cells.map(|c| c.v).unwrap_or_default(),
            cell_kinds: rule.cell_kinds.map(|c| c.v).unwrap_or_default(),
            point: rule.point.map(|p| p.v),
            severity: rule.severity,
            kind,
            active,
        });
    }
    out
}

/// `clear_after` times out camera events; a Modbus event point clears when it falls back
/// to 0, so the key would silently do nothing there.
fn check_camera_point(
    name: &Val<String>,
    at: &Loc,
    matched: &[&DeviceView<'_>],
    errors: &mut Vec<ConfigError>,
) {
    let modbus = matched.iter().find(|d| {
        d.points.is_some_and(|ps| {
            ps.iter()
                .any(|p| p.name == name.v && matches!(p.source, PointSource::Modbus { .. }))
        })
    });
    if let Some(d) = modbus {
        errors.push(at.error(format!(
            "clear_after applies to camera events only; `{}` on {} is a Modbus point, whose alarm clears when it falls back to 0",
            name.v, d.id
        )));
    }
}

/// The point must exist on every matched device (whose profile resolved), with the
/// wanted kind if one is given, and not be text. One error lists every device at fault.
fn check_point(
    name: &Val<String>,
    what: &str,
    want: Option<PointKind>,
    matched: &[&DeviceView<'_>],
    errors: &mut Vec<ConfigError>,
) {
    let mut missing = Vec::new();
    let mut wrong = Vec::new();
    let mut text = Vec::new();
    for d in matched {
        let Some(points) = d.points else { continue };
        match points.iter().find(|p| p.name == name.v) {
            None => missing.push(d.id),
            Some(p) if p.kind == PointKind::Text => text.push(d.id),
            Some(p) if want.is_some_and(|k| k != p.kind) => wrong.push((d.id, p.kind)),
            Some(_) => {}
        }
    }
    if !missing.is_empty() {
        errors.push(name.loc.error(format!(
            "no point `{}` on {} (the {what} must exist on every matched device)",
            name.v,
            missing.join(", ")
        )));
    }
    if !text.is_empty() {
        errors.push(name.loc.error(format!(
            "rules judge numbers, `{}` on {} is a text point (a string)",
            name.v,
            text.join(", ")
        )));
    }
    if let (Some(want), Some((id, kind))) = (want, wrong.first()) {
        errors.push(name.loc.error(format!(
            "the {what} must be {} point, `{}` on {id} is {}",
            a(want.name()),
            name.v,
            a(kind.name())
        )));
    }
}
