#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need
# (Mosquitto, socat, mbpoll, promtool, Chromium, faketime, a Python venv with pymodbus),
# then runs fmt, clippy and tests.
# README.md gives this command; .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v socat >/dev/null 2>&1 || need+=(socat)
command -v mbpoll >/dev/null 2>&1 || need+=(mbpoll)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# The HTTP tests: promtool checks /metrics, headless Chromium renders the status page.
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# libfaketime: the soak bench's smoke run puts the daemon on a fast clock with it.
command -v faketime >/dev/null 2>&1 || need+=(faketime)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# pymodbus: the independent Modbus implementation the interop tests serve devices with
# (tests/fixtures/pymodbus_server.py). The version is the one the interop suite is verified
# against; a venv holding another is brought to it.
PYMODBUS=3.8.6
# pysparkplug: the independent Sparkplug B decoder of tests/it/sparkplug.rs.
if ! .venv/bin/python -c "import pymodbus, serial, pysparkplug, sys; sys.exit(pymodbus.__version__ != '$PYMODBUS')" >/dev/null 2>&1; then
  python3 -m venv .venv
  .venv/bin/pip install -q "pymodbus==$PYMODBUS" 'pyserial==3.5' 'pysparkplug==0.6.1'
fi
# Not SITEWARDEN_*: the daemon refuses unknown SITEWARDEN_ variables (typo guard).
export SW_TEST_PYTHON="$PWD/.venv/bin/python"

# cargo-deb 3.x: the packaging test builds the .deb with it (a few minutes, once per machine).
cargo deb --version >/dev/null 2>&1 || cargo install cargo-deb --version '^3.8' --locked

cargo fmt --all -- --check
cargo clippy --all-targets --locked -- -D warnings
# The daemon as the .deb builds it (without the `demo` feature) must build clean too.
cargo clippy --no-default-features --locked -- -D warnings
cargo test --locked --all-targets -- --test-threads 2
