"""`riskmon flatten` and `riskmon audit` as a user runs them, against the simulator and a temp database."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from riskmon.cli import app
from riskmon.errors import ExitCode

runner = CliRunner()


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI points the root logger at its (temporary) stderr; put it back for the other tests."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(tmp_path: Path, *args: str, stdin: str | None = None) -> tuple[int, str]:
    env = {"RISKMON_DB": str(tmp_path / "riskmon.db"), "SIM_INTERVAL": "0.01"}
    result = runner.invoke(app, [*args, "--env-file", os.devnull], env=env, input=stdin)
    return result.exit_code, result.stdout


def test_flatten_then_audit(tmp_path: Path) -> None:
    code, plan = invoke(tmp_path, "flatten", "sim-ftmo", "--dry-run")
    assert code == 0, plan
    assert "flatten plan (dry run, nothing sent): close 3 positions" in plan

    code, out = invoke(tmp_path, "flatten", "sim-ftmo", stdin="n\n")
    assert code == 1 and "[y/N]" in out

    code, out = invoke(tmp_path, "flatten", "sim-ftmo", "--yes")
    assert code == 0, out
    assert "sim-ftmo: flatten sent, 3 of 3 accepted; trading halted until" in out
    assert out.strip().endswith("confirmed by a fresh snapshot")

    code, out = invoke(tmp_path, "audit", "--account", "sim-ftmo", "--format", "jsonl")
    assert code == 0, out
    steps = [json.loads(line)["step"] for line in out.splitlines()]
    assert steps[0] == "plan" and "transition" in steps
    for step in ("decision", "request", "answer", "verify"):
        assert steps.count(step) == 3, step

    code, out = invoke(tmp_path, "audit", "--since", "2000-01-01", "--format", "csv")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["step"] for r in rows] == steps


def test_flatten_unknown_account_and_audit_without_a_database(tmp_path: Path) -> None:
    env = {"RISKMON_DB": str(tmp_path / "riskmon.db")}
    result = runner.invoke(app, ["audit", "--env-file", os.devnull], env=env)
    assert result.exit_code == ExitCode.ERROR and "nothing has been recorded" in result.stderr
    result = runner.invoke(app, ["flatten", "nope", "--yes", "--env-file", os.devnull], env=env)
    assert result.exit_code == ExitCode.CONFIG and "no configured account 'nope'" in result.stderr


def test_config_shows_the_effective_enforcement(tmp_path: Path) -> None:
    (tmp_path / "riskmon.toml").write_text(
        '[[accounts]]\nid = "a1"\nplatform = "sim"\n[accounts.enforce]\nmode = "live"\n'
    )
    (tmp_path / "dry.env").write_text("DRY_RUN=true\n")
    (tmp_path / "none.env").write_text("")
    modes = []
    for env in ("none.env", "dry.env"):
        args = ["config", "--config", str(tmp_path / "riskmon.toml"), "--env-file", str(tmp_path / env)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        (account,) = json.loads(result.stdout)["accounts"]
        modes.append(account["enforce"]["mode"])
    assert modes == ["live", "dry-run"]  # DRY_RUN=true overrides the account's live mode


@pytest.mark.parametrize(
    ("command", "way"),
    [
        (["flatten", "sim-ftmo"], "/flatten"),
        (["flatten", "sim-ftmo", "--dry-run"], "/flatten"),
        (["resume", "sim-ftmo"], "/resume"),
    ],
)
def test_by_hand_while_riskmon_runs_is_refused_before_asking_and_points_at_telegram(
    tmp_path: Path, command: list[str], way: str
) -> None:
    """The halt must live in the running riskmon's database: another RISKMON_DB would not be enforced."""
    from contextlib import closing

    from riskmon.store import Store

    with closing(Store(tmp_path / "riskmon.db")):  # the running riskmon holds it
        result = runner.invoke(
            app, [*command, "--env-file", os.devnull], env={"RISKMON_DB": str(tmp_path / "riskmon.db")}, input="y\n"
        )
    assert result.exit_code == ExitCode.ERROR
    assert "[y/N]" not in result.stdout, "refused before the question, not after the answer"
    (line,) = result.stderr.strip().splitlines()
    assert f"pid {os.getpid()}" in line and way in line and "RISKMON_DB" not in line, line


def test_audit_for_an_account_it_never_saw_says_so_and_lists_those_it_did(tmp_path: Path) -> None:
    """A label or a typo for --account printed an empty trail, as if nothing had happened."""
    assert invoke(tmp_path, "flatten", "sim-ftmo", "--yes")[0] == 0
    result = runner.invoke(
        app,
        ["audit", "--account", "FTMO 100k (sim)", "--env-file", os.devnull],
        env={"RISKMON_DB": str(tmp_path / "riskmon.db")},
    )
    assert result.exit_code == 0 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line == "riskmon: no audit entries for account 'FTMO 100k (sim)'; accounts with entries: sim-ftmo"
