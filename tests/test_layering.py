"""Package layering: the FIX engine knows nothing about trading, ASX rules depend on nothing else."""

import subprocess
import sys

import pytest

CASES = [
    ("hft.fix", ["hft.fix.parser", "hft.fix.encoder", "hft.fix.session", "hft.fix.store",
                 "hft.fix.transport", "hft.fix.decode"], ["hft.engine", "hft.sim", "hft.strategies"]),
    ("hft.asx", ["hft.asx.ticks", "hft.asx.fees", "hft.asx.phases"],
     ["hft.engine", "hft.sim", "hft.fix", "hft.book"]),
    ("hft.book", ["hft.book.l2"], ["hft.engine", "hft.sim", "hft.fix"]),
    ("hft.strategies", ["hft.strategies"], ["hft.sim", "hft.fix", "hft.backtest", "socket", "asyncio"]),
]


@pytest.mark.parametrize(("name", "modules", "forbidden"), CASES, ids=[c[0] for c in CASES])
def test_layer_does_not_import(name: str, modules: list[str], forbidden: list[str]) -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = sorted(k for k in sys.modules for f in {forbidden!r} if k == f or k.startswith(f + '.'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{name} imports {out.stdout.strip()}"
