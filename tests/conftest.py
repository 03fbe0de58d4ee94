"""Every test is isolated from the machine's own riskmon, whatever the test does.

- Each test (and every process it starts) gets a fresh HOME and XDG/AppData directories, so the default
  state database (``platformdirs``' user data dir) is a temporary file, never the user's. Settings the
  user exported in their shell (``PLATFORM``, ``RISKMON_DB``, ``TELEGRAM_BOT_TOKEN``...) are removed, and
  each test starts in that home, so the checkout's own ``.env`` (the user's) is never read by default.
  ``RISKMON_DB`` and ``METRICS_PORT`` are not set here on purpose: an environment variable beats a
  test's own ``.env``, so setting them would silently change what those tests check.
- In CI (``RISKMON_CI``) the default metrics port is held for the whole session (unless something,
  such as a running riskmon, already listens there): a test that starts riskmon on the default port
  fails there at once instead of only beside a live service. It is not held on a user's machine, where
  a real riskmon restarting while the suite runs must still get its port.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from riskmon.config import Settings

DEFAULT_METRICS_PORT = int(Settings.model_fields["metrics_port"].default)
_DIRS = ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "APPDATA", "LOCALAPPDATA")


@pytest.fixture(scope="session", autouse=True)
def default_metrics_port_taken() -> Iterator[bool]:
    """In CI, hold 127.0.0.1:<default port> for the session; True when this fixture holds it."""
    if not os.environ.get("RISKMON_CI"):
        yield False
        return
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if os.name != "nt":  # past connections in TIME_WAIT must not keep the fixture from holding the port
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", DEFAULT_METRICS_PORT))
        sock.listen(1)
        held = True
    except OSError:
        held = False  # already taken: the suite runs beside something on it, which is the point
    try:
        yield held
    finally:
        sock.close()


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    settings = {name.upper() for name in Settings.model_fields}
    for name in list(os.environ):
        if name.upper() in settings or (name.startswith("RISKMON_") and name != "RISKMON_CI"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    for name in _DIRS:
        monkeypatch.setenv(name, str(home / name.lower()))
    monkeypatch.chdir(home)  # the default `--env-file .env` is never the checkout's own (the user's) .env
    return home
