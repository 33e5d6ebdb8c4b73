//! One row per mistake a technician can make in `sitewarden.toml`: the edit to a valid
//! site, and exactly the errors expected (key path, the line, what the message says).

use super::{edit, line_of, load_text};

struct Case {
    name: &'static str,
    /// `(from, to)` edits of `BASE`; an empty `from` appends.
    edits: &'static [(&'static str, &'static str)],
    /// Every expected error: key path, a text on its line (None: no line), and a
    /// fragment of its message.
    expect: &'static [(&'static str, Option<&'static str>, &'static str)],
}

const fn case(
    name: &'static str,
    edits: &'static [(&'static str, &'static str)],
    expect: &'static [(&'static str, Option<&'static str>, &'static str)],
) -> Case {
    Case {
        name,
        edits,
        expect,
    }
}

const GATE_UNIT: &str = "unit = 1\n";
const CAM_CONN: &str = "connection = \"cams\"";
const CAMS_BROKER: &str = "type = \"mqtt\"\nbroker = \"mqtt://127.0.0.1\"";
const UPLINK_BROKER: &str = "broker = \"mqtt://127.0.0.1\"";
const TRIGGER: &str = "trigger = \"scans\"";
/// A tag reader and a night patrol over it, appended to the base site.
const PATROL: &str = "\n[[device]]\nid = \"cp-1\"\nprofile = \"tag-reader\"\nconnection = \"lan\"\nunit = 9\n\n[[patrol]]\nname = \"night\"\ncheckpoints = [\"cp-1\"]\nschedule = \"every 2h from 20:00 to 06:00\"\nleg = \"10m\"\nround = \"1h\"\ntags = [1001]\n";
const ROUTE: &str = "checkpoints = [\"cp-1\"]";
const SCHEDULE: &str = "schedule = \"every 2h from 20:00 to 06:00\"";
/// A 70 000-byte topic prefix (`a/a/…`), more than an MQTT topic holds.
const LONG_PREFIX: &str = concat!(
    "broker = \"mqtt://h\"\ntopic_prefix = \"",
    include_str!("long_prefix.txt"),
    "\""
);

#[rustfmt::skip]
const CASES: &[Case] = &[
    // Syntax.
    case("unquoted string", &[("site = \"s\"", "site = s")],
        &[("", Some("site = s"), "string values must be quoted")]),
    case("duplicate key", &[(GATE_UNIT, "unit = 1\nunit = 2 # dup\n")],
        &[("", Some("# dup"), "duplicate key `unit`")]),
    case("a table where an array of tables belongs", &[("[[zone]]", "[zone]")],
        &[("zone", Some("[zone]"), "expected an array of tables [[zone]], found table"),
          ("device[0].zone", Some("zone = \"north\""), "unknown zone `north`, none is defined")]),
    // Unknown and missing keys.
    case("unknown key with a suggestion", &[("id = \"gw\"", "id = \"gw\"\ndata_dri = \"/x\"")],
        &[("gateway.data_dri", Some("data_dri"), "unknown key `data_dri` (did you mean `data_dir`?), expected one of: site, id, data_dir, utc_offset, timezone")]),
    case("unknown table", &[("", "\n[buffr]\nraw_max_bytes = \"1GiB\"\n")],
        &[("buffr", Some("[buffr]"), "unknown key `buffr` (did you mean `buffer`?)")]),
    case("missing [uplink]", &[("[uplink]\nbroker = \"mqtt://127.0.0.1\"\n", "")],
        &[("uplink.broker", None, "missing key `broker`")]),
    case("missing profile", &[("[[device]]\nid = \"gate-1\"\nprofile = \"turnstile\"\n", "[[device]] # gate\nid = \"gate-1\"\n")],
        &[("device[0].profile", Some("# gate"), "missing key `profile`")]),
    // [http].
    case("http listen on a host name", &[("", "\n[http]\nlisten = \"localhost:9410\"\n")],
        &[("http.listen", Some("localhost:9410"), "`localhost:9410` is not an IP address and port (e.g. `127.0.0.1:9410`")]),
    case("http listen on port 0", &[("", "\n[http]\nlisten = \"127.0.0.1:0\"\n")],
        &[("http.listen", Some("127.0.0.1:0"), "needs a port other than 0")]),
    case("http password without listen", &[("", "\n[http] # page\npassword_file = \"/etc/sitewarden/http.passwd\"\n")],
        &[("http.listen", Some("# page"), "missing key `listen`")]),
    case("http empty password file and a misspelt key", &[("", "\n[http]\nlisten = \"0.0.0.0:9410\"\npassword_file = \"\"\nlistn = 1\n")],
        &[("http.password_file", Some("password_file = \"\""), "must not be empty"),
          ("http.listn", Some("listn = 1"), "unknown key `listn` (did you mean `listen`?)")]),
    // [uplink] format and the keys that belong to it.
    case("unknown uplink format", &[(UPLINK_BROKER, "broker = \"mqtt://127.0.0.1\"\nformat = \"tb\"")],
        &[("uplink.format", Some("format = \"tb\""), "unknown uplink format `tb`")]),
    case("primary_host without sparkplug", &[(UPLINK_BROKER, "broker = \"mqtt://127.0.0.1\"\nprimary_host = \"scada\"")],
        &[("uplink.primary_host", Some("primary_host"), "belongs to format `sparkplug`")]),
    case("primary_host of two levels", &[(UPLINK_BROKER, "broker = \"mqtt://127.0.0.1\"\nformat = \"sparkplug\"\nprimary_host = \"a/b\"")],
        &[("uplink.primary_host", Some("primary_host"), "is not one topic level")]),
    case("topic_prefix with sparkplug", &[(UPLINK_BROKER, "broker = \"mqtt://127.0.0.1\"\nformat = \"sparkplug\"\ntopic_prefix = \"acme\"")],
        &[("uplink.topic_prefix", Some("topic_prefix"), "does not apply to format `sparkplug`")]),
    case("topic_prefix with thingsboard", &[(UPLINK_BROKER, "broker = \"mqtt://127.0.0.1\"\nformat = \"thingsboard\"\ntopic_prefix = \"acme\"")],
        &[("uplink.topic_prefix", Some("topic_prefix"), "does not apply to format `thingsboard`")]),
    // A device's live values.
    case("live deadband negative", &[(GATE_UNIT, "unit = 1\nlive = { deadband = -1 }\n")],
        &[("device[0].live.deadband", Some("deadband = -1"), "a deadband of -1 is negative")]),
    case("live interval too short", &[(GATE_UNIT, "unit = 1\nlive = { min_interval = \"10ms\" }\n")],
        &[("device[0].live.min_interval", Some("10ms"), "out of range 100ms..=1h")]),
    case("live keep-alive before the shortest report", &[(GATE_UNIT, "unit = 1\nlive = { min_interval = \"5s\", max_interval = \"2s\" }\n")],
        &[("device[0].live.max_interval", Some("max_interval"), "max_interval (2s) is shorter than min_interval (5s)")]),
    case("live unknown key", &[(GATE_UNIT, "unit = 1\nlive = { dead_band = 1 }\n")],
        &[("device[0].live.dead_band", Some("dead_band"), "unknown key `dead_band` (did you mean `deadband`?)")]),
    // [commands].
    case("command horizon beyond an hour", &[("", "\n[commands]\nmax_expiry = \"2h\"\n")],
        &[("commands.max_expiry", Some("2h"), "must be from 1s to 1h")]),
    case("command rate of zero", &[("", "\n[commands]\nrate = 0\n")],
        &[("commands.rate", Some("rate = 0"), "out of range 0.01..=1000")]),
    case("command burst of zero and a misspelt key", &[("", "\n[commands]\nburst = 0\nkey_fil = \"/k\"\n")],
        &[("commands.burst", Some("burst = 0"), "out of range"),
          ("commands.key_fil", Some("key_fil"), "unknown key `key_fil` (did you mean `key_file`?)")]),
    // Gateway and uplink values.
    case("site name with capitals and a space", &[("site = \"s\"", "site = \"Xi Tang\"")],
        &[("gateway.site", Some("Xi Tang"), "`Xi Tang` is not a valid name")]),
    case("utc offset without a sign", &[("id = \"gw\"", "id = \"gw\"\nutc_offset = \"08:00\"")],
        &[("gateway.utc_offset", Some("utc_offset"), "not a UTC offset")]),
    case("broker that is not mqtt", &[(UPLINK_BROKER, "broker = \"http://127.0.0.1\"")],
        &[("uplink.broker", Some("http://"), "use mqtt://host[:port] or mqtts://host[:port]")]),
    case("broker with credentials", &[(UPLINK_BROKER, "broker = \"mqtt://u:p@host\"")],
        &[("uplink.broker", Some("u:p@host"), "credentials do not belong in the URL")]),
    case("broker port out of range", &[(UPLINK_BROKER, "broker = \"mqtt://host:70000\"")],
        &[("uplink.broker", Some("host:70000"), "`70000` is not a port number")]),
    case("tls file with a plain broker", &[(UPLINK_BROKER, "broker = \"mqtt://127.0.0.1\"\nca_file = \"/ca.pem\"")],
        &[("uplink.ca_file", Some("ca_file"), "TLS files need an mqtts:// broker")]),
    case("client cert without key", &[(UPLINK_BROKER, "broker = \"mqtts://127.0.0.1\"\nclient_cert = \"/c.pem\"")],
        &[("uplink.client_cert", Some("client_cert"), "client_cert needs client_key too")]),
    case("topic prefix too long for an MQTT topic", &[(UPLINK_BROKER, LONG_PREFIX)],
        &[("uplink.topic_prefix", Some("topic_prefix"), "cannot fit an MQTT topic")]),
    case("wildcard in the topic prefix", &[(UPLINK_BROKER, "broker = \"mqtt://h\"\ntopic_prefix = \"a/#\"")],
        &[("uplink.topic_prefix", Some("topic_prefix"), "not a usable topic prefix")]),
    case("bad duration", &[(UPLINK_BROKER, "broker = \"mqtt://h\"\nsummary_interval = \"60x\"")],
        &[("uplink.summary_interval", Some("summary_interval"), "invalid duration `60x`")]),
    case("summary interval below a second", &[(UPLINK_BROKER, "broker = \"mqtt://h\"\nsummary_interval = \"500ms\"")],
        &[("uplink.summary_interval", Some("summary_interval"), "must be whole seconds from 1s to 1day")]),
    case("inflight of zero", &[(UPLINK_BROKER, "broker = \"mqtt://h\"\ninflight = 0")],
        &[("uplink.inflight", Some("inflight"), "0 is out of range 1..=65535")]),
    case("bad size", &[("", "\n[buffer]\nraw_max_bytes = \"lots\"\n")],
        &[("buffer.raw_max_bytes", Some("lots"), "invalid size `lots`, write it as 256MiB or a number of bytes")]),
    case("size too small", &[("", "\n[buffer]\noutbox_max_bytes = 1000\n")],
        &[("buffer.outbox_max_bytes", Some("1000"), "1000 bytes is too small, the minimum is 1MiB")]),
    // Connections.
    case("duplicate connection name", &[("", "\n[[connection]]\nname = \"lan\" # again\ntype = \"modbus-tcp\"\naddress = \"10.0.0.9\"\n")],
        &[("connection[2].name", Some("# again"), "duplicate connection name `lan`, first at line 10")]),
    case("misspelt connection type", &[("type = \"modbus-tcp\"", "type = \"modbus-tpc\"")],
        &[("connection[0].type", Some("modbus-tpc"), "unknown connection type `modbus-tpc` (did you mean `modbus-tcp`?)")]),
    case("serial key on a tcp connection", &[("address = \"127.0.0.1:502\"", "address = \"127.0.0.1:502\"\nbaud = 9600")],
        &[("connection[0].baud", Some("baud"), "`baud` does not apply to a modbus-tcp connection")]),
    case("misspelt key offers only keys of its connection type", &[("address = \"127.0.0.1:502\"", "address = \"127.0.0.1:502\"\ntimout = \"1s\"")],
        &[("connection[0].timout", Some("timout"), "unknown key `timout` (did you mean `timeout`?), expected one of: name, type, min_gap, max_inflight, address, timeout")]),
    case("tcp port out of range", &[("127.0.0.1:502", "127.0.0.1:99999")],
        &[("connection[0].address", Some("99999"), "`99999` is not a port number")]),
    case("bad camera broker", &[(CAMS_BROKER, "type = \"mqtt\"\nbroker = \"mqtt:/127.0.0.1\"")],
        &[("connection[1].broker", Some("mqtt:/127"), "not a broker URL")]),
    case("rtu parity", &[("", "\n[[connection]]\nname = \"bus\"\ntype = \"modbus-rtu\"\nport = \"/dev/ttyUSB0\"\nparity = \"mark\"\n")],
        &[("connection[2].parity", Some("mark"), "unknown parity `mark`, expected one of: none, even, odd")]),
    case("rtu data bits", &[("", "\n[[connection]]\nname = \"bus\"\ntype = \"modbus-rtu\"\nport = \"/dev/ttyUSB0\"\ndata_bits = 9\n")],
        &[("connection[2].data_bits", Some("data_bits"), "9 is out of range 5..=8")]),
    case("rtu without a port", &[("", "\n[[connection]] # bus\nname = \"bus\"\ntype = \"modbus-rtu\"\n")],
        &[("connection[2].port", Some("# bus"), "missing key `port`")]),
    case("max_inflight above 1", &[("address = \"127.0.0.1:502\"", "address = \"127.0.0.1:502\"\nmax_inflight = 4")],
        &[("connection[0].max_inflight", Some("max_inflight"), "max_inflight = 4: sitewarden sends one request at a time on a connection, only 1 is supported")]),
    case("min_gap too long", &[("address = \"127.0.0.1:502\"", "address = \"127.0.0.1:502\"\nmin_gap = \"1min\"")],
        &[("connection[0].min_gap", Some("min_gap"), "between requests is more than the 10s limit")]),
    case("min_gap on an mqtt connection", &[(CAMS_BROKER, "type = \"mqtt\"\nbroker = \"mqtt://127.0.0.1\"\nmin_gap = \"5ms\"")],
        &[("connection[1].min_gap", Some("min_gap"), "`min_gap` does not apply to an mqtt connection")]),
    case("rtu over tcp with a serial port", &[("", "\n[[connection]]\nname = \"dtu\"\ntype = \"modbus-rtu-over-tcp\"\naddress = \"10.0.0.7:4001\"\nport = \"/dev/ttyUSB0\"\n")],
        &[("connection[2].port", Some("port"), "`port` does not apply to a modbus-rtu-over-tcp connection (it has an address, not a port)")]),
    case("rtu over tcp without an address", &[("", "\n[[connection]] # dtu\nname = \"dtu\"\ntype = \"modbus-rtu-over-tcp\"\nbaud = 9600\n")],
        &[("connection[2].address", Some("# dtu"), "missing key `address`")]),
    case("rtu over tcp baud of zero", &[("", "\n[[connection]]\nname = \"dtu\"\ntype = \"modbus-rtu-over-tcp\"\naddress = \"10.0.0.7\"\nbaud = 0\n")],
        &[("connection[2].baud", Some("baud"), "0 is out of range 1..=4000000")]),
    // Devices.
    case("unit out of range", &[(GATE_UNIT, "unit = 300\n")],
        &[("device[0].unit", Some("unit = 300"), "300 is out of range 1..=247")]),
    case("unit zero", &[(GATE_UNIT, "unit = 0\n")],
        &[("device[0].unit", Some("unit = 0"), "0 is out of range 1..=247")]),
    case("unit as a word", &[(GATE_UNIT, "unit = \"two\"\n")],
        &[("device[0].unit", Some("\"two\""), "invalid type: string \"two\", expected an integer")]),
    case("modbus device without a unit", &[("unit = 2\n", ""), ("[[device]]\nid = \"kiosk-1\"", "[[device]] # kiosk\nid = \"kiosk-1\"")],
        &[("device[1].unit", Some("# kiosk"), "missing key `unit`")]),
    case("unit on a camera", &[(CAM_CONN, "connection = \"cams\"\nunit = 5")],
        &[("device[2].unit", Some("unit = 5"), "`unit` does not apply to a camera device")]),
    case("device id with capitals", &[("id = \"gate-1\"", "id = \"Gate_1\"")],
        &[("device[0].id", Some("Gate_1"), "`Gate_1` is not a valid name")]),
    case("duplicate device id", &[("id = \"cam-1\"", "id = \"gate-1\" # again")],
        &[("device[2].id", Some("# again"), "duplicate device id `gate-1`, first at line 20")]),
    case("unknown profile", &[("profile = \"turnstile\"", "profile = \"turnstyle\"")],
        &[("device[0].profile", Some("turnstyle"), "unknown profile `turnstyle` (did you mean `turnstile`?)")]),
    case("profile name that is a path", &[("profile = \"turnstile\"", "profile = \"../x\"")],
        &[("device[0].profile", Some("../x"), "`../x` is not a valid name")]),
    case("unknown connection", &[("connection = \"lan\"\nunit = 1", "connection = \"lna\"\nunit = 1")],
        &[("device[0].connection", Some("lna"), "unknown connection `lna` (did you mean `lan`?), expected one of: lan, cams")]),
    case("camera on a modbus connection", &[(CAM_CONN, "connection = \"lan\" # cam")],
        &[("device[2].connection", Some("# cam"), "camera profile and needs an mqtt connection, `lan` is modbus-tcp")]),
    case("modbus device on an mqtt connection", &[("connection = \"lan\"\nunit = 2", "connection = \"cams\"\nunit = 2")],
        &[("device[1].connection", Some("connection = \"cams\"\nunit = 2"), "Modbus profile and needs a modbus-tcp, modbus-rtu or modbus-rtu-over-tcp connection")]),
    case("bad poll", &[(GATE_UNIT, "unit = 1\npoll = \"60x\"\n")],
        &[("device[0].poll", Some("60x"), "invalid duration")]),
    case("poll of zero", &[(GATE_UNIT, "unit = 1\npoll = \"0s\"\n")],
        &[("device[0].poll", Some("0s"), "must be longer than 0s")]),
    case("absurdly short poll", &[(GATE_UNIT, "unit = 1\npoll = \"1ns\"\n")],
        &[("device[0].poll", Some("1ns"), "too short for a poll: at least 10ms")]),
    case("reads longer than modbus allows", &[(GATE_UNIT, "unit = 1\nmax_registers_per_read = 126\n")],
        &[("device[0].max_registers_per_read", Some("126"), "126 is out of range 1..=125")]),
    case("unknown zone on a device", &[("zone = \"north\"", "zone = \"nort\"")],
        &[("device[0].zone", Some("\"nort\""), "unknown zone `nort` (did you mean `north`?)")]),
    // Zones.
    case("zone capacity zero", &[("capacity = 100", "capacity = 0")],
        &[("zone[0].capacity", Some("capacity = 0"), "capacity must be at least 1 visitor")]),
    case("zone without capacity", &[("capacity = 100\n", "")],
        &[("zone[0].capacity", Some("[[zone]]"), "missing key `capacity`")]),
    case("daily reset not a time", &[("capacity = 100", "capacity = 100\ndaily_reset = \"4am\"")],
        &[("zone[0].daily_reset", Some("4am"), "not a time of day")]),
    case("duplicate zone", &[("", "\n[[zone]]\nname = \"north\" # again\ncapacity = 5\n")],
        &[("zone[1].name", Some("# again"), "duplicate zone name `north`")]),
    // Rules.
    case("rule on an unknown point", &[("point = \"body_temp\"", "point = \"body_tmp\"")],
        &[("rule[0].point", Some("body_tmp"), "no point `body_tmp` on kiosk-1")]),
    case("rule without a point", &[("point = \"body_temp\"\n", ""), ("[[rule]]", "[[rule]] # fever")],
        &[("rule[0].point", Some("# fever"), "missing key `point`")]),
    case("glob matching no device", &[("devices = [\"kiosk-*\"]", "devices = [\"kiosk-*\", \"door-*\"]")],
        &[("rule[0].devices[1]", Some("door-*"), "`door-*` matches no device")]),
    case("glob that can never match", &[("devices = [\"kiosk-*\"]", "devices = [\"Kiosk-*\"]")],
        &[("rule[0].devices", Some("Kiosk-*"), "can never match a device id")]),
    case("misspelt rule type", &[("type = \"threshold\"", "type = \"thresold\"")],
        &[("rule[0].type", Some("thresold"), "unknown rule type `thresold` (did you mean `threshold`?)")]),
    case("rule name with capitals", &[("name = \"fever\"", "name = \"Fever!\"")],
        &[("rule[0].name", Some("Fever!"), "not a valid rule name")]),
    case("duplicate rule name", &[("", "\n[[rule]]\nname = \"fever\" # again\ntype = \"offline\"\n")],
        &[("rule[1].name", Some("# again"), "duplicate rule name `fever`")]),
    case("unknown severity", &[(TRIGGER, "trigger = \"scans\"\nseverity = \"high\"")],
        &[("rule[0].severity", Some("high"), "unknown severity `high`, expected one of: info, warning, critical")]),
    case("threshold without a level", &[("above = 37.3\n", ""), ("clear_below = 37.0\n", ""), ("[[rule]]", "[[rule]] # fever")],
        &[("rule[0]", Some("# fever"), "a threshold rule needs `above`, `below` or both")]),
    case("clear level on the wrong side", &[("clear_below = 37.0", "clear_below = 38.0")],
        &[("rule[0].clear_below", Some("38.0"), "clear_below (38) is on the wrong side of above (37.3)")]),
    case("clear level without its level", &[("above = 37.3\n", "below = 30\n")],
        &[("rule[0].clear_below", Some("clear_below"), "`clear_below` needs `above`")]),
    case("parameter of another rule type", &[(TRIGGER, "trigger = \"scans\"\nwindow = 5")],
        &[("rule[0].window", Some("window"), "`window` does not apply to a threshold rule")]),
    case("misspelt parameter offers only keys of its rule type", &[(TRIGGER, "trigger = \"scans\"\nabvoe = 1")],
        &[("rule[0].abvoe", Some("abvoe"), "unknown key `abvoe` (did you mean `above`?), expected one of: name, type, severity, devices, cells, cell_kinds, active, days, dates, except, point, above, clear_below, below, clear_above, for, trigger")]),
    case("trigger that is not a counter", &[(TRIGGER, "trigger = \"body_temp\"")],
        &[("rule[0].trigger", Some("trigger"), "the trigger must be a counter point, `body_temp` on kiosk-1 is a gauge")]),
    case("trigger that does not exist", &[(TRIGGER, "trigger = \"scan\"")],
        &[("rule[0].trigger", Some("trigger"), "no point `scan` on kiosk-1")]),
    case("bad hold time", &[(TRIGGER, "trigger = \"scans\"\nfor = \"ten minutes\"")],
        &[("rule[0].for", Some("ten minutes"), "invalid duration")]),
    case("event rule on a gauge", &[("", "\n[[rule]]\nname = \"e\"\ntype = \"event\"\ndevices = [\"kiosk-*\"]\npoint = \"body_temp\" # e\n")],
        &[("rule[1].point", Some("# e"), "the point must be an event point, `body_temp` on kiosk-1 is a gauge")]),
    case("counter rule without max_rate", &[("", "\n[[rule]] # c\nname = \"c\"\ntype = \"counter\"\ndevices = [\"gate-*\"]\npoint = \"entries\"\n")],
        &[("rule[1].max_rate", Some("# c"), "missing key `max_rate`")]),
    case("counter rule on a state", &[("", "\n[[rule]]\nname = \"c\"\ntype = \"counter\"\ndevices = [\"gate-*\"]\npoint = \"status\" # c\nmax_rate = 5\n")],
        &[("rule[1].point", Some("# c"), "the point must be a counter point, `status` on gate-1 is a state")]),
    case("flatline without a duration", &[("", "\n[[rule]] # f\nname = \"f\"\ntype = \"flatline\"\ndevices = [\"kiosk-*\"]\npoint = \"body_temp\"\n")],
        &[("rule[1].for", Some("# f"), "missing key `for`")]),
    case("spike needing more samples than its window", &[("", "\n[[rule]]\nname = \"s\"\ntype = \"spike\"\ndevices = [\"kiosk-*\"]\npoint = \"body_temp\"\nwindow = 5\nmin_samples = 10\n")],
        &[("rule[1].min_samples", Some("min_samples"), "10 is out of range 3..=5")]),
    case("offline rule with a point", &[("", "\n[[rule]]\nname = \"o\"\ntype = \"offline\"\npoint = \"status\" # o\n")],
        &[("rule[1].point", Some("# o"), "an offline rule judges no point")]),
    case("capacity of an unknown zone", &[("", "\n[[rule]]\nname = \"c\"\ntype = \"capacity\"\nzone = \"nort\"\n")],
        &[("rule[1].zone", Some("\"nort\""), "unknown zone `nort` (did you mean `north`?)")]),
    case("capacity without a zone", &[("", "\n[[rule]] # c\nname = \"c\"\ntype = \"capacity\"\n")],
        &[("rule[1].zone", Some("# c"), "missing key `zone`")]),
    case("capacity with devices", &[("", "\n[[rule]]\nname = \"c\"\ntype = \"capacity\"\nzone = \"north\"\ndevices = [\"gate-*\"]\n")],
        &[("rule[1].devices", Some("gate-*"), "a capacity rule takes its devices from the zone")]),
    case("capacity warning above critical", &[("", "\n[[rule]]\nname = \"c\"\ntype = \"capacity\"\nzone = \"north\"\nwarn = 1.2\n")],
        &[("rule[1].warn", Some("1.2"), "warn (1.2) must not exceed critical (1)")]),
    case("event confidence above one", &[("", "\n[[rule]]\nname = \"i\"\ntype = \"event\"\ndevices = [\"cam-*\"]\npoint = \"intrusion\"\nmin_confidence = 2\n")],
        &[("rule[1].min_confidence", Some("min_confidence"), "2 is not a confidence between 0 and 1")]),
    case("event cleared after no time", &[("", "\n[[rule]]\nname = \"i\"\ntype = \"event\"\ndevices = [\"cam-*\"]\npoint = \"intrusion\"\nclear_after = \"0s\"\n")],
        &[("rule[1].clear_after", Some("clear_after"), "must be longer than 0s")]),
    case("quiet time on a modbus event", &[("", "\n[[rule]]\nname = \"f\"\ntype = \"event\"\ndevices = [\"gate-*\"]\npoint = \"forced_entry\"\nclear_after = \"5s\"\n")],
        &[("rule[1].clear_after", Some("clear_after"), "clear_after applies to camera events only; `forced_entry` on gate-1 is a Modbus point, whose alarm clears when it falls back to 0")]),
    // Cells, time zones and rule windows.
    case("unknown time zone", &[("id = \"gw\"", "id = \"gw\"\ntimezone = \"Asia/Shanghia\"")],
        &[("gateway.timezone", Some("Shanghia"), "`Asia/Shanghia` is not an IANA time zone")]),
    case("time zone and utc offset both", &[("id = \"gw\"", "id = \"gw\"\ntimezone = \"Asia/Shanghai\"\nutc_offset = \"+08:00\"")],
        &[("gateway.utc_offset", Some("utc_offset"), "give `timezone` or `utc_offset`, not both")]),
    case("device in an unknown cell", &[("", "\n[[cell]]\nname = \"street-1\"\nkind = \"commercial-street\"\n"), ("unit = 2\n", "unit = 2\ncell = \"stret-1\"\n")],
        &[("device[1].cell", Some("stret-1"), "unknown cell `stret-1` (did you mean `street-1`?)")]),
    case("cell without a kind", &[("", "\n[[cell]]\nname = \"street-1\"\n")],
        &[("cell[0].kind", Some("[[cell]]"), "missing key `kind`")]),
    case("duplicate cell", &[("", "\n[[cell]]\nname = \"street-1\"\nkind = \"commercial-street\"\n\n[[cell]]\nname = \"street-1\" # again\nkind = \"commercial-street\"\n")],
        &[("cell[1].name", Some("# again"), "duplicate cell name `street-1`, first at line")]),
    case("rule on a cell glob that matches none", &[("", "\n[[cell]]\nname = \"street-1\"\nkind = \"commercial-street\"\n"), ("unit = 2\n", "unit = 2\ncell = \"street-1\"\n"), (TRIGGER, "trigger = \"scans\"\ncells = [\"river-*\"]")],
        &[("rule[0].cells[0]", Some("river-*"), "`river-*` matches no cell")]),
    case("rule on a cell its devices are not in", &[("", "\n[[cell]]\nname = \"street-1\"\nkind = \"commercial-street\"\n"), (GATE_UNIT, "unit = 1\ncell = \"street-1\"\n"), (TRIGGER, "trigger = \"scans\"\ncells = [\"street-*\"]")],
        &[("rule[0].cells", Some("street-*"), "no device the rule's `devices` match stands in these cells")]),
    case("rule on an unknown cell kind", &[("", "\n[[cell]]\nname = \"street-1\"\nkind = \"commercial-street\"\n"), (TRIGGER, "trigger = \"scans\"\ncell_kinds = [\"waterfront\"]")],
        &[("rule[0].cell_kinds[0]", Some("waterfront"), "unknown cell kind `waterfront`, expected one of: commercial-street")]),
    case("bad active window", &[(TRIGGER, "trigger = \"scans\"\nactive = [\"22-06\"]")],
        &[("rule[0].active", Some("22-06"), "`22-06` is not a time window, write it as HH:MM-HH:MM")]),
    case("bad day of the week", &[(TRIGGER, "trigger = \"scans\"\ndays = [\"friday\"]")],
        &[("rule[0].days", Some("friday"), "`friday` is not a day of the week")]),
    case("unknown calendar", &[(TRIGGER, "trigger = \"scans\"\ndates = \"holidays\"")],
        &[("rule[0].dates", Some("holidays"), "unknown calendar `holidays`, none is defined")]),
    case("bad calendar date", &[("", "\n[[calendar]]\nname = \"holidays\"\ndates = [\"2026-10-1\"]\n")],
        &[("calendar[0].dates", Some("2026-10-1"), "`2026-10-1` is not a date, write it as YYYY-MM-DD")]),
    // [[patrol]].
    case("patrol checkpoint that is no device", &[("", PATROL), (ROUTE, "checkpoints = [\"cp-1\", \"cp-2\"]")],
        &[("patrol[0].checkpoints[1]", Some("cp-2"), "unknown device `cp-2` (did you mean `cp-1`?)")]),
    case("patrol checkpoint that is not a tag reader", &[("", PATROL), (ROUTE, "checkpoints = [\"gate-1\", \"cp-1\"]")],
        &[("patrol[0].checkpoints[0]", Some("\"gate-1\", \"cp-1\""), "device `gate-1` is not a tag reader: its profile `turnstile` has no `tag` point")]),
    case("patrol checkpoint twice", &[("", PATROL), (ROUTE, "checkpoints = [\"cp-1\", \"cp-1\"]")],
        &[("patrol[0].checkpoints", Some("\"cp-1\", \"cp-1\""), "checkpoint `cp-1` is on the route twice")]),
    case("patrol schedule without its end", &[("", PATROL), (SCHEDULE, "schedule = \"every 2h from 20:00\"")],
        &[("patrol[0].schedule", Some("every 2h from 20:00\""), "`every 2h from 20:00` is not a schedule, write it as `every 2h from 20:00 to 06:00` or a list of start times")]),
    case("patrol start time that is not a time", &[("", PATROL), (SCHEDULE, "schedule = [\"20:00\", \"8pm\"]")],
        &[("patrol[0].schedule", Some("8pm"), "`8pm` is not a time of day, write it as HH:MM")]),
    case("patrol schedule of the wrong type", &[("", PATROL), (SCHEDULE, "schedule = 20")],
        &[("patrol[0].schedule", Some("schedule = 20"), "expected \"every 2h from 20:00 to 06:00\" or a list of start times")]),
    case("patrol round shorter than a leg", &[("", PATROL), ("round = \"1h\"", "round = \"5m\"")],
        &[("patrol[0].round", Some("round = \"5m\""), "a round of 5m is shorter than one leg (10m)")]),
    case("patrol tag that is no tag id", &[("", PATROL), ("tags = [1001]", "tags = [1001, -1]")],
        &[("patrol[0].tags", Some("tags = [1001, -1]"), "-1 is not a tag id")]),
    case("patrol without a leg", &[("", PATROL), ("leg = \"10m\"\n", "")],
        &[("patrol[0].leg", Some("[[patrol]]"), "missing key `leg`")]),
];

#[test]
fn each_mistake_gives_exactly_its_errors_with_key_path_and_line() {
    let mut failures = Vec::new();
    for case in CASES {
        let text = edit(case.edits);
        let errors = match load_text(&text, &[]) {
            Ok(_) => {
                failures.push(format!("{}: loaded without error", case.name));
                continue;
            }
            Err(e) => e,
        };
        let matches = |&(key, at, says): &(&str, Option<&str>, &str),
                       e: &crate::config::ConfigError| {
            e.file == "sitewarden.toml"
                && e.key == key
                && e.line == at.map(|needle| line_of(&text, needle))
                && e.message.contains(says)
        };
        let all_found = case
            .expect
            .iter()
            .all(|x| errors.0.iter().any(|e| matches(x, e)));
        if errors.0.len() != case.expect.len() || !all_found {
            failures.push(format!(
                "{}: expected {:?}\ngot:\n{errors}",
                case.name, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn three_typos_and_a_bad_unit_give_four_errors() {
    let text = edit(&[
        ("id = \"gw\"", "id = \"gw\"\nsiet = \"x\""),
        (GATE_UNIT, "unti = 1\nunit = 300\nconection = \"lan\"\n"),
    ]);
    let errors = load_text(&text, &[]).unwrap_err();
    let got: Vec<(usize, &str, &str)> = errors
        .0
        .iter()
        .map(|e| (e.line.unwrap_or(0), e.key.as_str(), e.message.as_str()))
        .collect();
    let line = |needle| line_of(&text, needle);
    let expected = [
        (
            line("siet"),
            "gateway.siet",
            "unknown key `siet` (did you mean `site`?), expected one of: site, id, data_dir, utc_offset, timezone",
        ),
        (
            line("unti"),
            "device[0].unti",
            "unknown key `unti` (did you mean `unit`?), expected one of: id, profile, connection, unit, poll, zone, cell, max_registers_per_read, max_gap, live",
        ),
        (
            line("unit = 300"),
            "device[0].unit",
            "300 is out of range 1..=247",
        ),
        (
            line("conection"),
            "device[0].conection",
            "unknown key `conection` (did you mean `connection`?), expected one of: id, profile, connection, unit, poll, zone, cell, max_registers_per_read, max_gap, live",
        ),
    ];
    assert_eq!(got, expected, "\n{errors}");
    let first = errors.to_string();
    assert!(
        first.starts_with(&format!(
            "sitewarden.toml:{}:1: gateway.siet: unknown key",
            line("siet")
        )),
        "{first}"
    );
}

#[test]
fn several_bad_keys_in_one_table_are_all_reported() {
    let text = edit(&[(
        GATE_UNIT,
        "unit = \"one\"\npoll = \"soon\"\nmax_gap = -1\ncolour = \"red\"\n",
    )]);
    let errors = load_text(&text, &[]).unwrap_err();
    let keys: Vec<&str> = errors.0.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "device[0].unit",
            "device[0].poll",
            "device[0].max_gap",
            "device[0].colour"
        ],
        "\n{errors}"
    );
}
