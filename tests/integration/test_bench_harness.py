"""`make bench` fails at once, with riskmon's own reason, when riskmon cannot start."""

from __future__ import annotations

import socket

import pytest

from benchmarks import engine


def test_start_up_benchmark_fails_with_the_reason_when_the_metrics_port_is_taken() -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(engine.StartFailed, match="address already in use"):
            engine.startup_seconds(5, timeout=120, port=port)
