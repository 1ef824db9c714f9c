"""Start-up checks of a paper/live config that warn rather than refuse (shared by ``hft paper`` and
``hft live``; called once before the session starts, never on the hot path)."""

from __future__ import annotations

import ipaddress
from typing import Any

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


def logon_failure_reason(session: Any, initiator: Any = None) -> str:
    """Why a FIX session is not logged on, for the "did not log on" message: the connect error
    (refused, no route, DNS), the venue's Logout text (logon rejected), a dropped connection, or a venue
    that accepted the connection and never answered the Logon."""
    state = session.state.name
    connect_error = getattr(initiator, "last_connect_error", "") if initiator is not None else ""
    last_drop = session.disconnect_reason or (getattr(initiator, "last_disconnect_reason", "")
                                              if initiator is not None else "")
    parts: list[str] = []
    if state == "DISCONNECTED" and connect_error:
        n = getattr(initiator, "connect_failures", 0)
        parts.append(f"{connect_error}" + (f", {n} attempts" if n > 1 else ""))
    elif state in ("CONNECTED", "LOGON_SENT"):
        parts.append("connected, but the venue has not answered the Logon")
    if last_drop:
        parts.append(f"last connection ended: {last_drop}")
    text = getattr(session, "last_logout_text", "")
    if text and text not in last_drop:
        parts.append(f"venue's Logout text: {text!r}")
    return "; ".join(parts) or f"session state {state}"
