"""Package layering: which hft packages each package may import, written down once and held.

``RULES`` is the table (docs/architecture.md shows the same one). Every module under ``src/hft`` is read
with :mod:`ast` and every import in it is checked: top-level and inside functions or methods, ``import x``
and ``from x import y`` (``y`` resolved to a module when it is one), relative imports resolved against the
module's package, and ``importlib.import_module("hft...")`` / ``__import__("hft...")`` with a literal name,
so a lazy import cannot sneak past. ``EXCEPTIONS`` lists the few module-level exceptions, each with its
reason. A subprocess check confirms what actually lands in ``sys.modules`` when a layer is imported.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PKG = SRC / "hft"

_ALL = ("hft", "hft._native", "hft.records", "hft.ratelog", "hft.model", "hft.asx", "hft.runtime",
        "hft.metrics", "hft.book", "hft.fix", "hft.data", "hft.sim", "hft.engine", "hft.venues",
        "hft.strategies", "hft.backtest")

# package (or top-level module) -> (the hft packages or modules it may import besides itself, why)
RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "hft.model": ((), "order/side/type/status/TIF enums, order and event types: the neutral base"),
    "hft.asx": ((), "ASX rules (ticks, phases, fees) shared by every component"),
    "hft.records": ((), "CRC record framing (journal, FIX store)"),
    "hft.ratelog": ((), "rate-limited logging"),
    "hft._native": ((), "compiled-build switch"),
    "hft": (("hft._native",), "the package root"),
    "hft.runtime": ((), "process tuning: affinity, GC, sockets, timestamps, ring"),
    "hft.metrics": ((), "stats, histograms, Prometheus exporter"),
    "hft.book": (("hft.model", "hft.asx"), "L2 book"),
    "hft.fix": (("hft.asx", "hft.records"), "FIX protocol: knows nothing about trading"),
    "hft.data": (("hft.model", "hft.asx", "hft.fix"), "canonical format and converters; generators "
                 "live above it (hft.sim.synth_cli, hft.backtest.synth)"),
    "hft.sim": (("hft.model", "hft.asx", "hft.fix", "hft.data", "hft.metrics", "hft.ratelog", "hft.records"),
                "exchange simulator: shares model and asx with the engine, never its internals"),
    "hft.engine": (("hft.model", "hft.asx", "hft.book", "hft.fix", "hft.data", "hft.metrics", "hft.runtime",
                    "hft.records", "hft.ratelog"), "orders, risk, journal, strategy API, the hosts"),
    "hft.venues": (("hft.model", "hft.asx", "hft.book", "hft.fix", "hft.engine.config",
                    "hft.engine.gateway"),
                   "connections behind the engine's interfaces (engine.gateway), set up by engine.config"),
    "hft.strategies": (("hft.model", "hft.asx", "hft.book", "hft.engine.strategy", "hft.engine.config"),
                       "strategies see the model, the book and the strategy API (and validate their params)"),
    "hft.backtest": (("hft.model", "hft.asx", "hft.book", "hft.data", "hft.engine", "hft.strategies"),
                     "the same strategies and risk manager on a simulated venue; not hft.sim"),
    "hft.bench": (_ALL, "benchmarks: the top, may drive anything"),
    "hft.cli": (("hft",), "the hft command: imports command modules by name only when chosen"),
}

# (importing module, imported package or module) -> why; each must still be used (no stale entries)
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("hft.engine.embedded", "hft.sim"): "the one embedded-venue seam: hft paper runs the simulator "
                                        "in-process when no venue is configured",
    ("hft.engine.host", "hft.venues"): "the one wiring picks the market-data source (TWS); moves with "
                                       "the hosts to a hosts/ package",
    ("hft.engine.runner", "hft.strategies"): "the host builds the configured strategy by name; moves with "
                                             "the hosts to a hosts/ package",
    ("hft.engine.paper_cli", "hft.strategies"): "hft paper lists and validates the strategies' params; "
                                                "moves with the hosts to a hosts/ package",
    ("hft.venues.tws.fake_server", "hft.sim"): "the fake TWS server (tests, hft bench tws) drives the "
                                               "simulator's matching and flow",
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str) -> bool:
    p = SRC.joinpath(*name.split("."))
    return p.with_suffix(".py").is_file() or (p / "__init__.py").is_file()


def imports_of(module: str, source: str, is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, imported name) for every import of ``source`` anywhere in it, resolved to absolute names."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                sub = f"{mod}.{a.name}"
                yield node.lineno, sub if _is_module(sub) else mod
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                yield node.lineno, node.args[0].value


def unit_of(name: str) -> str:
    """The table row a module belongs to: ``hft.engine.runner`` -> ``hft.engine``; ``hft`` -> ``hft``."""
    parts = name.split(".")
    return ".".join(parts[:2])


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def violations(module: str, source: str, is_package: bool = False,
               used: set[tuple[str, str]] | None = None) -> list[str]:
    unit = unit_of(module)
    allowed = RULES[unit][0]
    bad = []
    for line, name in sorted(set(imports_of(module, source, is_package))):
        if not _under(name, "hft") or (_under(name, unit) and unit != "hft"):
            continue
        if unit == "hft" and name == "hft":
            continue
        if any(_under(name, p) for p in allowed):
            continue
        exc = next(((m, p) for (m, p) in EXCEPTIONS if m == module and _under(name, p)), None)
        if exc is not None:
            if used is not None:
                used.add(exc)
            continue
        may = ", ".join(allowed) or "nothing of hft"
        bad.append(f"{module}:{line} imports {name} ({unit} may import: {may})")
    return bad


def all_modules() -> list[Path]:
    return sorted(PKG.rglob("*.py"))


def test_every_package_has_a_rule() -> None:
    missing = sorted({unit_of(module_name(p)) for p in all_modules()} - set(RULES))
    assert not missing, f"add a row to RULES for {missing}"


def test_every_import_follows_the_rules() -> None:
    used: set[tuple[str, str]] = set()
    bad: list[str] = []
    for p in all_modules():
        bad += violations(module_name(p), p.read_text(), p.name == "__init__.py", used)
    assert not bad, "\n".join(bad)
    assert used == set(EXCEPTIONS), f"stale exceptions: {sorted(set(EXCEPTIONS) - used)}"


def test_the_allowed_graph_has_no_cycle() -> None:
    """Lower layers never import higher ones: the table (exceptions aside) is a partial order."""
    graph = {u: {unit_of(p) for p in allowed} - {u} for u, (allowed, _) in RULES.items() if u != "hft.bench"}
    state: dict[str, int] = {}

    def visit(u: str, path: list[str]) -> None:
        if state.get(u) == 2:
            return
        assert state.get(u) != 1, f"cycle: {' -> '.join([*path, u])}"
        state[u] = 1
        for v in sorted(graph.get(u, ())):
            visit(v, [*path, u])
        state[u] = 2

    for u in sorted(graph):
        visit(u, [])


@pytest.mark.parametrize("source", [
    "from hft.engine.runner import TradingEngine\n",
    "import hft.engine.types\n",
    "def f():\n    from hft.engine import runner\n    return runner\n",
    "class C:\n    def m(self):\n        import hft.backtest.engine as e\n        return e\n",
    "import importlib\nM = importlib.import_module('hft.engine.host')\n",
])
def test_the_checker_sees_every_kind_of_import(source: str) -> None:
    assert violations("hft.sim.matching", source), source  # the simulator may not import the engine


def test_relative_imports_are_resolved() -> None:
    assert violations("hft.data.cli", "def f():\n    from ..sim import record\n")  # -> hft.sim.record
    assert not violations("hft.data.cli", "from .format import DataError\n")  # hft.data.format
    assert violations("hft.model", "from ..engine import runner\n", is_package=True)  # hft.engine.runner
    assert violations("hft.model", "from .. import engine\n", is_package=True)  # hft.engine


def test_an_exception_is_only_for_its_module() -> None:
    assert not violations("hft.engine.embedded", "from hft.sim.server import SimServer\n")
    assert violations("hft.engine.runner", "from hft.sim.server import SimServer\n")


CASES = [
    ("hft.model", ["hft.model", "hft.model.types"], ["hft."]),
    ("hft.fix", ["hft.fix.parser", "hft.fix.encoder", "hft.fix.session", "hft.fix.store",
                 "hft.fix.transport", "hft.fix.decode"], ["hft.engine", "hft.sim", "hft.strategies"]),
    ("hft.asx", ["hft.asx.ticks", "hft.asx.fees", "hft.asx.phases"],
     ["hft.engine", "hft.sim", "hft.fix", "hft.book"]),
    ("hft.book", ["hft.book.l2"], ["hft.engine", "hft.sim", "hft.fix"]),
    ("hft.strategies", ["hft.strategies"], ["hft.sim", "hft.fix", "hft.backtest", "socket", "asyncio"]),
    ("hft.sim", ["hft.sim.matching", "hft.sim.gateway", "hft.sim.flow", "hft.sim.replay", "hft.sim.record",
                 "hft.sim.server", "hft.sim.cli", "hft.sim.synth_cli"],
     ["hft.engine", "hft.backtest", "hft.strategies", "hft.venues"]),
    ("hft.data", ["hft.data.format", "hft.data.cli", "hft.data.lobster", "hft.data.fixlog",
                  "hft.data.binance"],
     ["hft.backtest", "hft.sim", "hft.engine"]),
    ("hft.backtest", ["hft.backtest.engine", "hft.backtest.cli"], ["hft.sim"]),
]


@pytest.mark.parametrize(("name", "modules", "forbidden"), CASES, ids=[c[0] for c in CASES])
def test_layer_does_not_import(name: str, modules: list[str], forbidden: list[str]) -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"mine = {modules!r} + ['hft', {name!r}]\n"
        f"bad = sorted(k for k in sys.modules for f in {forbidden!r}\n"
        "             if (k == f or k.startswith(f if f.endswith('.') else f + '.'))\n"
        "             and not any(k == m or k.startswith(m + '.') for m in mine) and k != 'hft._native')\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{name} imports {out.stdout.strip()}"
