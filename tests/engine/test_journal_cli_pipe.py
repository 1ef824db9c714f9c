"""QA finding 10: `hft journal show FILE | head` ended with a BrokenPipeError traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hft.engine.journal import Journal

HFT = f"{sys.executable} -c 'import sys; from hft.cli import main; sys.exit(main())'"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("fmt", ["", "--json"])
def test_show_into_a_closed_pipe_is_quiet(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / "j"
    with Journal(p, fsync="none") as j:
        for i in range(3000):  # far more than a pipe buffer holds
            j.record_position("BHP", i)
    cmd = f"{HFT} journal show {fmt} {p} | head -n 2; echo \"rc=${{PIPESTATUS[0]}}\""
    r = subprocess.run(cmd, shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60)
    assert len(r.stdout.splitlines()) == 3 and r.stdout.splitlines()[-1] == "rc=0", r.stdout
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr, r.stderr
