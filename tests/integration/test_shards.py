"""Shards as processes: each `riskmon run --shard I/N` watches exactly the accounts rendezvous hashing gives it,
with its own database; together they watch every account once. The Kubernetes manifests validate."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from riskmon.shard import owner
from tests.processes import RiskmonProcess, riskmon_env

ACCOUNTS = [f"sim-{n}" for n in range(12)]
ROOT = Path(__file__).resolve().parents[2]


def saved(db: Path) -> set[str]:
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return {row[0] for row in conn.execute("SELECT account FROM account_state")}
    except sqlite3.Error:
        return set()


def test_two_shards_watch_every_account_exactly_once(tmp_path: Path) -> None:
    config = tmp_path / "riskmon.toml"
    config.write_text("".join(f'[[accounts]]\nid = "{a}"\nplatform = "sim"\n\n' for a in ACCOUNTS), encoding="utf-8")
    shards = []
    for index in range(2):
        env = riskmon_env(tmp_path, RISKMON_DB=str(tmp_path / f"shard-{index}.db"), SIM_INTERVAL="0.05")
        args = ["run", "--no-table", "--env-file", os.devnull, "--config", str(config), "--shard", f"{index}/2"]
        shards.append(RiskmonProcess(args, env, tmp_path))
    try:
        for index, process in enumerate(shards):
            line = process.wait_for(lambda text: "shard " in text and "configured accounts" in text)
            mine = [a for a in ACCOUNTS if owner(a, 2) == index]
            assert re.search(rf"shard {index}/2: {len(mine)} of the configured accounts", line), line
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            seen = [saved(tmp_path / f"shard-{index}.db") for index in range(2)]
            if sum(map(len, seen)) == len(ACCOUNTS):
                break
            time.sleep(0.1)
        assert seen[0] | seen[1] == set(ACCOUNTS) and not seen[0] & seen[1]
        assert all(owner(a, 2) == index for index in range(2) for a in seen[index])
    finally:
        for process in shards:
            process.stop()


def test_the_kubernetes_manifests_validate_against_the_schemas() -> None:
    tool = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
    assert tool is not None, "kubernetes-validate is a dev dependency"
    manifests = [str(p) for p in sorted((ROOT / "deploy").glob("*.yaml")) if p.name not in {"kustomization.yaml"}]
    result = subprocess.run([tool, "--strict", *manifests], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(manifests) - 1  # the ServiceMonitor is the operator's CRD
