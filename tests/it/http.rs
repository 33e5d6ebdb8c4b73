//! The opt-in HTTP endpoints (issue 13): `/metrics` checked by promtool and moving with
//! the polls, the status page rendered by headless Chromium, Basic auth, `/healthz`, and
//! no TCP socket at all without `[http]`.

use crate::status::{HOT, wait_status};
use crate::support::daemon::Daemon;
use crate::support::mosquitto::{Mosquitto, free_port};
use crate::support::site::{SimSite, TestSite};
use crate::support::wait_until;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One GET: (status, head, body).
fn get(port: u16, path: &str, authorization: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the http port");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("read the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("a status");
    (status, head.to_string(), body.to_string())
}

/// The value of one sample line (`name{labels}` exactly) in a Prometheus text.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"))
}

fn with_http(broker: &Mosquitto, sim: &SimSite, http: &str) -> TestSite {
    TestSite::with_extra(broker, sim, "60s", &format!("{HOT}\n[http]\n{http}\n"))
}

/// Runs a command with a deadline; (exit code, stdout, stderr).
fn run_bounded(cmd: &mut Command, within: Duration, stdin: &[u8]) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test.sh installs it)"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("{cmd:?} still running after {within:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn metrics_pass_promtool_and_move_with_the_polls_and_a_dead_device() {
    let broker = Mosquitto::start();
    let mut sim = SimSite::start(&["th-1:rs485-th", "th-2:rs485-th"]);
    sim.set("th-1", "temperature", 355.0);
    let port = free_port();
    let site = with_http(&broker, &sim, &format!("listen = \"127.0.0.1:{port}\""));
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    wait_status(
        &site.config,
        "polled, alarm, online",
        Duration::from_secs(20),
        |c, d| c == 0 && d["alarms"].as_array().is_some_and(|a| !a.is_empty()),
    );

    let (status, head, first) = get(port, "/metrics", None);
    assert_eq!(status, 200, "{head}\n{first}");
    assert!(
        head.contains("Content-Type: text/plain; version=0.0.4"),
        "{head}"
    );
    let (code, out, err) = run_bounded(
        Command::new("promtool").args(["check", "metrics"]),
        Duration::from_secs(30),
        first.as_bytes(),
    );
    assert_eq!(code, 0, "promtool: {out}{err}\n{first}");
    assert!(metric(&first, "sitewarden_alarms_active{severity=\"warning\"}") == 1.0);
    assert_eq!(metric(&first, "sitewarden_uplink_up"), 1.0);
    assert!(metric(&first, "sitewarden_messages_acked_total") >= 1.0);
    assert!(metric(&first, "process_resident_memory_bytes") > 1e6);

    // Counters move as polls happen.
    let polls = metric(&first, "sitewarden_polls_total");
    let latency = metric(&first, "sitewarden_poll_duration_seconds_count");
    let th2_errors = metric(
        &first,
        "sitewarden_device_poll_errors_total{device=\"th-2\"}",
    );
    assert_eq!(th2_errors, 0.0);
    std::thread::sleep(Duration::from_millis(2500));
    let (_, _, second) = get(port, "/metrics", None);
    assert!(
        metric(&second, "sitewarden_polls_total") >= polls + 2.0,
        "{second}"
    );
    assert!(metric(&second, "sitewarden_poll_duration_seconds_count") >= latency + 2.0);
    let (status, _, body) = get(port, "/healthz", None);
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // A dead device: its error counter rises, the transport errors with it, and
    // /healthz turns 503 with the reason `status` gives.
    sim.stop("th-2");
    wait_until("th-2's errors counted", Duration::from_secs(20), || {
        let (_, _, m) = get(port, "/metrics", None);
        metric(&m, "sitewarden_device_poll_errors_total{device=\"th-2\"}") >= 2.0
    });
    let (_, _, third) = get(port, "/metrics", None);
    assert_eq!(metric(&third, "sitewarden_device_up{device=\"th-2\"}"), 0.0);
    assert_eq!(
        metric(
            &third,
            "sitewarden_device_poll_errors_total{device=\"th-1\"}"
        ),
        0.0
    );
    assert!(
        metric(&third, "sitewarden_polls_failed_total") >= 2.0,
        "{third}"
    );
    let lost = ["timeout", "transport"].map(|k| {
        metric(
            &third,
            &format!("sitewarden_poll_errors_total{{kind=\"{k}\"}}"),
        )
    });
    assert!(lost.iter().sum::<f64>() >= 2.0, "{third}");
    let (code, out, err) = run_bounded(
        Command::new("promtool").args(["check", "metrics"]),
        Duration::from_secs(30),
        third.as_bytes(),
    );
    assert_eq!(code, 0, "promtool: {out}{err}");
    let (status, _, body) = get(port, "/healthz", None);
    assert_eq!(status, 503);
    assert!(
        body.starts_with("degraded: 1 of 2 devices failing: th-2"),
        "{body}"
    );
    // Anything else is refused plainly.
    assert_eq!(get(port, "/nope", None).0, 404);
    eprintln!(
        "/metrics excerpt:\n{}",
        third
            .lines()
            .filter(|l| !l.starts_with('#'))
            .take(60)
            .collect::<Vec<_>>()
            .join("\n")
    );
    daemon.stop_cleanly();
}

#[test]
fn the_status_page_renders_in_chromium_with_devices_and_the_alarm() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th", "th-2:rs485-th"]);
    sim.set("th-1", "temperature", 355.0);
    sim.set("th-2", "temperature", 201.0);
    let port = free_port();
    let site = with_http(&broker, &sim, &format!("listen = \"127.0.0.1:{port}\""));
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    wait_status(
        &site.config,
        "alarm raised",
        Duration::from_secs(20),
        |_, d| d["alarms"].as_array().is_some_and(|a| !a.is_empty()),
    );
    let url = format!("http://127.0.0.1:{port}/");
    let profile = site.dir.path().join("chromium");
    let chromium = |extra: &[&str]| {
        let mut c = Command::new("chromium");
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(&url);
        run_bounded(&mut c, Duration::from_secs(90), b"")
    };
    let (code, dom, err) = chromium(&["--dump-dom"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "data-device=\"th-1\"",
        "data-device=\"th-2\"",
        "<tr class=\"alarm\" data-rule=\"hot\"><td class=\"warning\">warning</td>",
        "35.5 °C",
        "20.1 °C",
        "id=\"uplink\">online",
    ] {
        assert!(dom.contains(want), "`{want}` in the rendered DOM:\n{dom}");
    }
    // A phone-sized screenshot; SW_TEST_SCREENSHOT keeps a copy.
    let png = site.dir.path().join("status-page.png");
    let (code, _, err) = chromium(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=412,900",
        "--hide-scrollbars",
    ]);
    assert_eq!(code, 0, "{err}");
    let bytes = std::fs::read(&png).expect("the screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 5000,
        "{} bytes",
        bytes.len()
    );
    if let Ok(keep) = std::env::var("SW_TEST_SCREENSHOT") {
        std::fs::write(keep, &bytes).unwrap();
    }
    daemon.stop_cleanly();
}

#[test]
fn with_a_password_file_requests_without_credentials_get_401() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let passwd = dir.path().join("http.passwd");
    // The README recipe, run as a technician would.
    let recipe = "salt=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'); \
                  hash=$(printf '%s%s' \"$salt\" \"$PW\" | sha256sum | cut -d' ' -f1); \
                  printf 'admin:sha256:%s:%s\\n' \"$salt\" \"$hash\" > \"$OUT\"; chmod 0640 \"$OUT\"";
    let (code, _, err) = run_bounded(
        Command::new("sh")
            .args(["-c", recipe])
            .env("PW", "correct horse")
            .env("OUT", &passwd),
        Duration::from_secs(10),
        b"",
    );
    assert_eq!(code, 0, "{err}");
    let site = with_http(
        &broker,
        &sim,
        &format!(
            "listen = \"127.0.0.1:{port}\"\npassword_file = \"{}\"",
            passwd.display()
        ),
    );
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    wait_until("http up", Duration::from_secs(20), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    for path in ["/", "/metrics", "/healthz"] {
        let (status, head, _) = get(port, path, None);
        assert_eq!(status, 401, "{path}: {head}");
        assert!(
            head.contains("WWW-Authenticate: Basic realm=\"sitewarden\""),
            "{head}"
        );
    }
    // base64("admin:wrong") and base64("admin:correct horse").
    assert_eq!(get(port, "/metrics", Some("Basic YWRtaW46d3Jvbmc=")).0, 401);
    let (status, _, body) = get(port, "/metrics", Some("Basic YWRtaW46Y29ycmVjdCBob3JzZQ=="));
    assert_eq!(status, 200);
    assert!(body.contains("sitewarden_polls_total"));
    daemon.stop_cleanly();

    // A damaged password file refuses the start, naming the key and what is wrong.
    std::fs::write(&passwd, "admin:plaintext\n").unwrap();
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    let status = daemon.wait(Duration::from_secs(20));
    assert!(!status.success());
    let logs = daemon.logs();
    assert!(
        logs.contains("http.password_file") && logs.contains("expected one line"),
        "{logs}"
    );
}

/// Inodes of the TCP sockets in LISTEN state that process `pid` holds.
fn listening_sockets(pid: i32) -> Vec<(u64, u16)> {
    let mut listening = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() > 9 && f[3] == "0A" {
                let port = u16::from_str_radix(f[1].rsplit(':').next().unwrap(), 16).unwrap();
                listening.push((f[9].parse::<u64>().unwrap(), port));
            }
        }
    }
    let mut owned = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
    {
        let target = std::fs::read_link(fd.path()).unwrap_or_default();
        let t = target.to_string_lossy();
        if let Some(inode) = t.strip_prefix("socket:[").and_then(|s| s.strip_suffix(']')) {
            let inode: u64 = inode.parse().unwrap();
            owned.extend(listening.iter().filter(|(i, _)| *i == inode).copied());
        }
    }
    owned
}

#[test]
fn without_http_the_daemon_listens_on_no_tcp_port() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    let site = TestSite::new(&broker, &sim, "60s");
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    wait_status(&site.config, "running", Duration::from_secs(20), |c, _| {
        c == 0
    });
    assert_eq!(
        listening_sockets(daemon.pid()),
        vec![],
        "no [http]: no listening socket"
    );
    daemon.stop_cleanly();

    // The same look finds the port once [http] is configured.
    let port = free_port();
    let site = with_http(&broker, &sim, &format!("listen = \"127.0.0.1:{port}\""));
    let mut daemon = Daemon::start(&site.config, site.dir.path());
    wait_status(&site.config, "running", Duration::from_secs(20), |c, d| {
        c == 0 && !d.is_null()
    });
    let found: Vec<u16> = listening_sockets(daemon.pid())
        .iter()
        .map(|(_, p)| *p)
        .collect();
    assert_eq!(found, vec![port]);
    daemon.stop_cleanly();
}

#[test]
fn check_warns_of_an_open_page_and_refuses_a_missing_password_file() {
    let broker = Mosquitto::start();
    let sim = SimSite::start(&["th-1:rs485-th"]);
    // Only read by `check`: nothing binds these addresses.
    let open = with_http(&broker, &sim, "listen = \"0.0.0.0:9410\"");
    let cfg = open.config.to_str().unwrap();
    let (code, out, err) = crate::support::daemon::run_cli(&["check", "-c", cfg]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("warning: http.listen 0.0.0.0:9410: the status page and metrics are open to the network without a password"),
        "{out}"
    );
    let missing = with_http(
        &broker,
        &sim,
        "listen = \"0.0.0.0:9410\"\npassword_file = \"/nonexistent/http.passwd\"",
    );
    let cfg = missing.config.to_str().unwrap();
    let (code, out, err) = crate::support::daemon::run_cli(&["check", "-c", cfg]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        err.contains("http.password_file /nonexistent/http.passwd"),
        "{err}"
    );
    assert!(!out.contains("open to the network"), "{out}");
}
