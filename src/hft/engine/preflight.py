"""Start-up checks of a paper/live config that warn rather than refuse (shared by ``hft paper`` and
``hft live``; called once before the session starts, never on the hot path)."""

from __future__ import annotations

import ipaddress

from hft.engine.config import Config


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or "localhost" (a name other than localhost is not assumed to be local)."""
    h = host.strip().strip("[]")
    if h.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False


def warnings_for(cfg: Config) -> list[str]:
    """Loud start-up warnings: settings that expose the process beyond this machine."""
    out: list[str] = []
    m = cfg.metrics
    if m.enabled and not is_loopback(m.host):
        what = "every network interface" if m.host.strip() in ("0.0.0.0", "::", "") else f"{m.host!r}"
        out.append(f"{cfg.source}: metrics.host = {m.host!r}: the Prometheus endpoint (positions, P&L, "
                   f"orders) will be served on {what}, not only on this machine; set metrics.host = "
                   "\"127.0.0.1\" unless a firewall restricts port "
                   f"{m.port} and you mean to expose it")
    return out
