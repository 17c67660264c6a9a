"""The README's main job (examples/demo.sh) works as written."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_script_logs_and_shows_runs(tmp_path):
    out = subprocess.run(
        ["bash", str(ROOT / "examples" / "demo.sh"), str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    log = out.stdout.split("== gittrack log")[1].split("==")[0]
    rows = [ln for ln in log.strip().splitlines()[1:] if ln.strip()]
    assert len(rows) == 3 and all("FINISHED" in r for r in rows)
    assert "*" in rows[0].split()[6]  # the newest run had an uncommitted change
    assert '+    ap.add_argument("--epochs", type=int, default=40)' in out.stdout
