"""Which ``hft`` modules run compiled (mypyc), and the switch to run the interpreted source instead.

``setup.py`` compiles the hot-path modules with mypyc: the same Python source, built into C extensions
that the import system prefers to the ``.py`` files next to them. This module

* honours ``HFT_PURE_PYTHON=1`` (set before ``hft`` is first imported): every ``hft`` module is then
  loaded from its ``.py`` source, so the interpreted and compiled builds of one tree can run side by side
  (benchmarks, differential tests, instrumented stage breakdowns that wrap methods);
* reports what is compiled (:func:`status`), and warns once, on import, when a compiled module is older
  than its source (an edited ``.py`` whose extension was not rebuilt would otherwise be silently ignored:
  rebuild with ``make build``, or run with ``HFT_PURE_PYTHON=1``).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from typing import Any

PURE_ENV = "HFT_PURE_PYTHON"
_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
_EXT_SUFFIXES = tuple(importlib.machinery.EXTENSION_SUFFIXES)


def pure_requested() -> bool:
    return os.environ.get(PURE_ENV, "").strip().lower() in ("1", "true", "yes")


class _SourceFirst:
    """Meta path finder: ``hft.*`` modules from their ``.py`` file even when an extension sits beside it."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if not name.startswith("hft.") or not path:
            return None
        leaf = name.rpartition(".")[2]
        for d in path:
            f = os.path.join(d, leaf + ".py")
            if os.path.isfile(f):
                return importlib.util.spec_from_file_location(name, f)
        return None


def install_pure_finder() -> None:
    if not any(isinstance(f, _SourceFirst) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFirst())


def _extensions() -> list[tuple[str, str, str]]:
    """(module name, extension path, source path) for every built extension inside the package."""
    out = []
    for root, _dirs, files in os.walk(_PKG_DIR):
        for fn in files:
            if not fn.endswith(_EXT_SUFFIXES):
                continue
            stem = fn.split(".", 1)[0]
            src = os.path.join(root, stem + ".py")
            if not os.path.isfile(src):
                continue
            rel = os.path.relpath(os.path.join(root, stem), os.path.dirname(_PKG_DIR))
            out.append((rel.replace(os.sep, "."), os.path.join(root, fn), src))
    return sorted(out)


def stale_extensions() -> list[str]:
    """Modules whose ``.py`` source is newer than the compiled extension beside it."""
    return [m for m, ext, src in _extensions() if os.path.getmtime(src) > os.path.getmtime(ext) + 1.0]


def status() -> dict[str, Any]:
    """``{"pure_python": bool, "built": [...], "loaded_compiled": [...], "stale": [...]}``."""
    loaded = sorted(n for n, m in list(sys.modules.items())
                    if n.startswith("hft.") and str(getattr(m, "__file__", "") or "").endswith(_EXT_SUFFIXES))
    return {"pure_python": pure_requested(), "built": [m for m, _e, _s in _extensions()],
            "loaded_compiled": loaded, "stale": stale_extensions()}


def is_compiled(module: Any) -> bool:
    return str(getattr(module, "__file__", "") or "").endswith(_EXT_SUFFIXES)


def warn_if_stale() -> None:
    if pure_requested():
        return
    stale = stale_extensions()
    if stale:
        sys.stderr.write(
            "hft: WARNING: compiled module(s) older than their source, the old compiled code would run: "
            + ", ".join(stale) + ". Rebuild with `make build` (or run with HFT_PURE_PYTHON=1).\n")
