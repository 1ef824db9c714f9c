"""Build a quickfix wheel from its unpacked source archive, compiling the C++ files in parallel.

quickfix's setup.py compiles its ~300 C++ files one after another (about 15 minutes on 2 cores). This
script runs the same setup.py but replaces distutils' ``CCompiler.compile`` with a version that compiles
the objects on a thread pool (the compiler processes run in parallel; the GIL is released while waiting),
biggest source files first so the pool drains evenly.

Usage (inside the unpacked sdist directory, with setuptools and wheel installed in the interpreter):

    CFLAGS=-O1 python scripts/build_quickfix_wheel.py --out DIST_DIR [--jobs N] [--src SDIST_DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import setuptools  # noqa: F401  (must come before distutils: setuptools provides it on 3.12+)


def _install_parallel_compile(jobs: int) -> None:
    import distutils.ccompiler as ccompiler  # provided by setuptools

    def parallel_compile(
        self: Any,
        sources: list[str],
        output_dir: str | None = None,
        macros: Any = None,
        include_dirs: Any = None,
        debug: int = 0,
        extra_preargs: Any = None,
        extra_postargs: Any = None,
        depends: Any = None,
    ) -> list[str]:
        macros, objects, extra_postargs, pp_opts, build = self._setup_compile(
            output_dir, macros, include_dirs, sources, depends, extra_postargs
        )
        cc_args = self._get_cc_args(pp_opts, debug, extra_preargs)
        todo = [o for o in objects if o in build]
        todo.sort(key=lambda o: -os.path.getsize(build[o][0]))
        done = 0
        t0 = time.monotonic()

        def one(obj: str) -> None:
            nonlocal done
            src, ext = build[obj]
            self._compile(obj, src, ext, cc_args, extra_postargs, pp_opts)
            done += 1
            if done % 25 == 0 or done == len(todo):
                print(f"[build_quickfix_wheel] compiled {done}/{len(todo)} in {time.monotonic() - t0:.0f}s",
                      flush=True)

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            # list() re-raises the first compiler error
            list(pool.map(one, todo))
        return objects

    ccompiler.CCompiler.compile = parallel_compile  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="directory for the built wheel")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel compiler processes")
    ap.add_argument("--src", default=".", help="unpacked quickfix sdist directory (default: cwd)")
    args = ap.parse_args(argv)
    out = os.path.abspath(args.out)
    os.chdir(args.src)
    if not os.path.exists("setup.py"):
        print(f"[build_quickfix_wheel] no setup.py in {os.getcwd()}", file=sys.stderr)
        return 2
    _install_parallel_compile(max(1, args.jobs))
    print(f"[build_quickfix_wheel] building in {os.getcwd()} with {args.jobs} jobs, "
          f"CFLAGS={os.environ.get('CFLAGS', '')!r}", flush=True)
    sys.argv = ["setup.py", "--quiet", "bdist_wheel", "-d", out]
    sys.path.insert(0, os.getcwd())
    with open("setup.py", encoding="utf-8") as f:
        code = compile(f.read(), "setup.py", "exec")
    try:
        exec(code, {"__name__": "__main__", "__file__": os.path.abspath("setup.py")})
    except SystemExit as e:  # setup() may exit
        if e.code not in (None, 0):
            return int(e.code) if isinstance(e.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
