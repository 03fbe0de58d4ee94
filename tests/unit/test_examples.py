"""The shipped examples stay valid: examples/riskmon.toml loads, .env.example names every setting."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from riskmon.config import Settings, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_example_toml_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTRADER_CLIENT_ID", "id")
    monkeypatch.setenv("CTRADER_CLIENT_SECRET", "secret")
    monkeypatch.setenv("CTRADER_ACCESS_TOKEN", "token")
    monkeypatch.setenv("MT5_PASSWORD_E8", "pw")
    config = load_config(None, ROOT / "examples" / "riskmon.toml")
    assert [p.account for p in config.profiles] == ["12345678", "5550001", "topstep-combine"]
    assert config.profiles[1].rulebook.daily_loss.warn_at == Decimal("0.7")


def test_env_example_documents_every_setting() -> None:
    """Set (``NAME=``) or shown with its default, commented out (``# NAME=default``)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    documented = {m.group(1) for line in lines if (m := re.match(r"(?:# )?([A-Z][A-Z0-9_]*)=", line))}
    assert {name.upper() for name in Settings.model_fields} <= documented


def test_readme_rules_example_loads(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```toml\n(\[accounts\.rules\.weekly_loss\].*?)```", readme, re.S)
    assert block is not None
    toml = tmp_path / "riskmon.toml"
    toml.write_text('[[accounts]]\nid = "a"\nplatform = "sim"\n' + block.group(1))
    book = load_config(None, toml).profile("a").rulebook
    assert book.weekly_loss.size == Decimal(1500) and book.flat_by.at == "15:10"
    assert book.daily_profit.lock_from == Decimal(600)
