"""The `hft` command: usage, unknown commands, and a reader that leaves the pipe early."""

import subprocess
import sys
from pathlib import Path

from hft.cli import main
from hft.fix.encoder import FixEncoder


def test_usage_lists_commands(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for words in ("paper", "live", "sim", "backtest", "fix decode", "bench latency"):
        assert words in out


def test_unknown_command_is_an_error(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["no-such-command"]) == 2
    assert "unknown command" in capsys.readouterr().err


def test_reader_leaving_the_pipe_is_not_a_traceback(tmp_path: Path) -> None:
    enc = FixEncoder("FIX.4.2", "SIM", "ME")
    log = tmp_path / "big.fix"
    log.write_bytes(b"".join(enc.encode("0", [(112, f"T{i}")], i + 1) for i in range(20_000)))
    code = "import sys; from hft.cli import main; sys.exit(main(sys.argv[1:]))"
    p = subprocess.run(
        f'"{sys.executable}" -c "{code}" fix decode "{log}" | head -n 1; echo "rc=${{PIPESTATUS[0]}}"',
        shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=120)
    assert p.stdout.startswith("{") and "rc=0" in p.stdout, p.stdout[-300:]
    assert "Traceback" not in p.stderr and "BrokenPipe" not in p.stderr, p.stderr
