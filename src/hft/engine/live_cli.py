"""``hft live``: the paper engine against a real venue, behind two locks.

It refuses to start unless BOTH the ``--live`` flag is given AND the config file says ``mode = "live"``
(:func:`hft.engine.config.require_live`). Credentials never come from the config file: ``venue.username_env``
/ ``venue.password_env`` name environment variables; ``--credentials-file`` may fill those variables from a
``NAME=value`` file that lives outside the repository and is readable by its owner only.
The embedded simulator is never started (the loader already refuses ``sim.embedded = true`` in live mode).
A config still holding the example's placeholders (``YOUR_...`` values, an ``*.invalid`` / ``example.*``
host) is refused before anything connects. ``risk.require_reference`` is forced on (with a line on stderr
when the file has it off): a live limit order is never sent before a reference price (book mid or last
trade) exists to check its price band against.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import stat
import sys
from pathlib import Path

from hft.engine.config import Config, ConfigError, require_live
from hft.engine.paper_cli import EXIT_CONFIG, add_common_options, load, run


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hft live", description="Trade LIVE through the venue in the config (IBKR FIX). Refuses without "
        "--live and a config whose mode is \"live\".",
        epilog="Exit status: 0 done, 1 venue unreachable, 2 refused (flag, mode, config or credentials), "
               "3 the kill switch tripped. SIGUSR1 trips the kill switch.")
    p.add_argument("--live", action="store_true", help="required: confirms that real orders will be sent")
    p.add_argument("--credentials-file", metavar="FILE", help="NAME=value lines for the variables named by "
                   "venue.username_env / venue.password_env; must be outside the repository and not "
                   "readable by group or others")
    add_common_options(p)
    p.set_defaults(config=None)
    return p


def _repo_roots() -> list[Path]:
    """The checkout this package runs from and the working directory's repository, if any."""
    roots: list[Path] = []
    for start in (Path(__file__).resolve(), Path.cwd().resolve()):
        for d in (start, *start.parents):
            if (d / ".git").exists() or ((d / "pyproject.toml").exists() and (d / "src" / "hft").is_dir()):
                roots.append(d)
                break
    return roots


def load_credentials_file(path: str, names: tuple[str, ...], environ: dict[str, str] | os._Environ[str]
                          ) -> list[str]:
    """Fill ``environ`` with the ``names`` found in a ``NAME=value`` file; returns the names set.
    Raises ConfigError for a file inside the repository, readable by others, or unreadable."""
    p = Path(path).expanduser().resolve()
    for root in _repo_roots():
        if p == root or root in p.parents:
            raise ConfigError(f"--credentials-file: {p} is inside the repository {root}; keep credentials "
                              "outside it")
    try:
        st = p.stat()
        text = p.read_text()
    except OSError as e:
        raise ConfigError(f"--credentials-file: cannot read {p}: {e.strerror}") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"--credentials-file: {p} is accessible by group/others "
                          f"(mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it")
    found: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"--credentials-file: {p}:{n}: expected NAME=value")
        name = name.strip()
        if name in names:
            environ[name] = value.strip()
            found.append(name)
    return found


def check_credentials(cfg: Config, environ: dict[str, str] | os._Environ[str]) -> None:
    for key in ("username_env", "password_env"):
        name = getattr(cfg.venue, key)
        if not environ.get(name):
            raise ConfigError(f"{cfg.source}: venue.{key}: environment variable {name} is not set "
                              "(export it, or use --credentials-file)")


_PLACEHOLDER_KEYS = (("venue", "host"), ("venue", "sender_comp_id"), ("venue", "target_comp_id"),
                     ("venue", "account"), ("market_data", "host"), ("market_data", "sender_comp_id"),
                     ("market_data", "target_comp_id"))
_PLACEHOLDER = re.compile(r"^your[_-]|\.invalid$|(^|\.)example(\.|$)|^<.*>$|^changeme$", re.IGNORECASE)


def check_placeholders(cfg: Config) -> None:
    """Refuse values left over from config/live.example.toml (YOUR_SENDER_COMP_ID, example.invalid...)."""
    bad = []
    for table, key in _PLACEHOLDER_KEYS:
        if table == "market_data" and key != "host" and cfg.market_data.source != "fix":
            continue
        value = getattr(getattr(cfg, table), key)
        if isinstance(value, str) and _PLACEHOLDER.search(value.strip()):
            bad.append(f"{table}.{key} = {value!r}")
    if bad:
        raise ConfigError(f"{cfg.source}: placeholder values from the example config: {'; '.join(bad)} "
                          "(fill in the values from your FIX onboarding)")


def force_live_risk(cfg: Config) -> tuple[Config, list[str]]:
    """Risk settings that live trading never runs without; returns the config and one note per change."""
    notes: list[str] = []
    if not cfg.risk.require_reference:
        cfg = dataclasses.replace(cfg, risk=dataclasses.replace(cfg.risk, require_reference=True))
        notes.append(f"{cfg.source}: risk.require_reference = false is overridden to true in live mode: no "
                     "limit order is sent before a reference price exists for its price band check")
    return cfg, notes


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if not args.config:
            raise ConfigError("refusing to trade live: --config FILE with mode = \"live\" is required")
        cfg = load(args)
        require_live(cfg, args.live)
        check_placeholders(cfg)
        if args.credentials_file:
            load_credentials_file(args.credentials_file, (cfg.venue.username_env, cfg.venue.password_env),
                                  os.environ)
        check_credentials(cfg, os.environ)
        cfg, notes = force_live_risk(cfg)
    except ConfigError as e:
        print(f"hft live: {e}", file=sys.stderr)
        return EXIT_CONFIG
    for note in notes:
        print(f"hft live: {note}", file=sys.stderr)
    print(f"LIVE trading: venue {cfg.venue.host}:{cfg.venue.port} as {cfg.venue.sender_comp_id}, account "
          f"{cfg.venue.account}, instruments {', '.join(cfg.instruments.symbols)}", file=sys.stderr)
    return run(cfg, args, title="LIVE session", metrics_fallback=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
