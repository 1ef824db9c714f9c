"""``hft fix conformance-acceptor``: hft's FIX acceptor set up as QuickFIX's session acceptance tests assume.

QuickFIX's scripted session-level tests (``test/definitions/server/fix42/*.def``) are replayed against an
acceptor with a fixed configuration and a small test application. This command is that acceptor, built
from hft's :class:`hft.fix.transport.AsyncAcceptor` and :class:`hft.fix.session.FixSession`: only the
configuration and the application live here, every session behaviour comes from :mod:`hft.fix`.

Configuration (QuickFIX name -> hft):

=================================  ===============================================================
SenderCompID ISLD, TargetCompID    ``sender_comp_id="ISLD"``, ``target_comp_id="TW42"`` (``TW44`` for
TW42 / TW44                        ``--begin-string FIX.4.4``)
ResetOnLogon=Y                     ``reset_on_logon=True``
HeartBtInt from the Logon          an acceptor adopts the peer's 108
CheckLatency=Y, MaxLatency=120     ``check_latency=True``, ``max_latency=120``
CheckCompID=Y                      ``check_comp_id=True``
UseDataDictionary=Y (FIX42/FIX44)  ``data_dictionary="standard"``, QuickFIX's validation switches
TimestampPrecision=3               ``timestamp_precision=3``
PersistMessages=Y                  a store (``--store DIR``: files; default: memory) keeps what is sent
StartTime=EndTime=00:00:00         ``start_time="00:00:00"``, ``end_time="00:00:00"``
unknown sessions / second logon    closed without a message (``refuse_with_logout=False``)
=================================  ===============================================================

The test application (QuickFIX ``at_application.h``): NewOrderSingle (35=D) is echoed back unless it
carries PossResend (97=Y) with a ClOrdID already seen since the Logon; SecurityDefinition (35=d) and Email
(35=C) are echoed; any other application message is refused with BusinessMessageReject 380=3
"Unsupported Message Type".

    hft fix conformance-acceptor --port 5001 [--begin-string FIX.4.4] [--store DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from hft.fix.parser import FixMessage
from hft.fix.session import FixSession, SessionApplication, SessionConfig
from hft.fix.store import MemoryStore, SessionStore, open_store
from hft.fix.transport import AsyncAcceptor

# header fields the session writes itself (the echo carries every other field of the message)
_HEADER = frozenset({8, 9, 10, 34, 35, 43, 49, 52, 56, 122})
_ECHOED = frozenset({b"D", b"d", b"C"})


def conformance_config(begin_string: str = "FIX.4.2") -> SessionConfig:
    """The session configuration QuickFIX's acceptance suite assumes (see the module doc)."""
    client = {"FIX.4.2": "TW42", "FIX.4.4": "TW44"}.get(begin_string)
    if client is None:
        raise ValueError(f"--begin-string: FIX.4.2 or FIX.4.4, not {begin_string!r}")
    return SessionConfig(
        begin_string=begin_string, sender_comp_id="ISLD", target_comp_id=client, initiator=False,
        reset_on_logon=True, check_comp_id=True, check_latency=True, max_latency=120.0,
        timestamp_precision=3, start_time="00:00:00", end_time="00:00:00",
        data_dictionary="standard", app_msg_types=_ECHOED,
    )


class AcceptanceTestApplication(SessionApplication):
    """QuickFIX's ``at_application``: echo 35=D (but drop a PossResend duplicate), 35=d and 35=C."""

    def __init__(self) -> None:
        self.orders_seen: set[bytes] = set()

    def on_logon(self, session: FixSession) -> None:
        self.orders_seen.clear()

    def on_app_message(self, session: FixSession, msg: FixMessage) -> None:
        mt = msg.msg_type
        if mt == b"D":
            cl = msg.get(11) or b""
            if msg.get(97) == b"Y" and cl in self.orders_seen:
                return  # a PossResend of an order already received in this logon: dropped
            self.orders_seen.add(cl)
        session.send(mt, [(t, v) for t, v in msg.fields() if t not in _HEADER])


# What differs between FIX 4.2 and FIX 4.4 by definition, per script (text replaced in the FIX.4.4 twin).
# Everything else in the scripts is version independent and runs unchanged.
FIX44_ADJUSTMENTS: dict[str, tuple[tuple[str, str, str], ...]] = {
    # FIX 4.4 defines SessionRejectReason 13, 14 and 16 (4.2 stops at 11): QuickFIX sends them on 4.4
    "14g_HeaderBodyTrailerFieldsOutOfOrder.def": (
        ("373=14 added", "371=34|372=D|", "371=34|372=D|373=14|"),),
    "14h_RepeatedTag.def": (("373=13 added", "371=40|372=D|", "371=40|372=D|373=13|"),),
    "14i_RepeatingGroupCountNotEqual.def": (
        ("373=16 added", "371=386|372=D|", "371=386|372=D|373=16|"),),
    # Symbol (55) is not a required field of a 4.4 NewOrderSingle (its Instrument block is): the 4.4
    # twin leaves out Side (54), required in both versions, and expects 371=54
    "14b_RequiredFieldMissing.def": (
        ("Side left out instead of Symbol", "|40=1|60=<TIME>|54=1|21=3|11=id|",
         "|40=1|60=<TIME>|55=MSFT|21=3|11=id|"),
        ("371=54", "371=55|372=D|373=1|", "371=54|372=D|373=1|")),
    # a 4.4 SecurityDefinition has neither NoRelatedSym (146) nor TotalNumSecurities (393): the
    # zero-count group is NoLegs (555)
    "21_RepeatingGroupSpecifierWithValueOfZero.def": (
        ("NoLegs=0 sent", "|393=0|146=0|", "|555=0|"),
        ("NoLegs=0 echoed", "|146=0|167=OPT|320=JCD1091-20021011|322=1034356488676|323=6|336=ONE_MAIN|393=0|",
         "|167=OPT|320=JCD1091-20021011|322=1034356488676|323=6|336=ONE_MAIN|555=0|")),
    # ExecTransType (20) does not exist in FIX 4.4 (Invalid tag number): the 4.4 ExecutionReport omits it
    "2r_UnregisteredMsgType.def": (("no ExecTransType", "|17=id|20=0|150=0|", "|17=id|150=0|"),),
}


def fix44_variant(script: str, name: str = "") -> str:
    """A FIX.4.2 acceptance script turned into its FIX.4.4 twin (client TW44): BeginString and CompID
    replaced, plus, for the scripts named in :data:`FIX44_ADJUSTMENTS`, what FIX 4.4 defines differently
    (each adjustment must apply: a script that changed is an error)."""
    out = script.replace("8=FIX.4.2\x01", "8=FIX.4.4\x01").replace("TW42", "TW44")
    for what, old, new in FIX44_ADJUSTMENTS.get(name, ()):
        o, n = old.replace("|", "\x01"), new.replace("|", "\x01")
        if o not in out:
            raise ValueError(f"{name}: FIX.4.4 adjustment '{what}' does not apply (script changed?)")
        out = out.replace(o, n)
    return out


def write_fix44_variants(src_dir: str, dst_dir: str) -> list[str]:
    """Every ``*.def`` of ``src_dir`` as its FIX.4.4 variant in ``dst_dir`` (a temporary directory: the
    scripts are QuickFIX's, not copied into this repository); the names written."""
    import os

    names = sorted(n for n in os.listdir(src_dir) if n.endswith(".def"))
    for n in names:
        with open(os.path.join(src_dir, n), encoding="latin-1", newline="") as f:
            text = f.read()
        with open(os.path.join(dst_dir, n), "w", encoding="latin-1", newline="") as f:
            f.write(fix44_variant(text, n))
    return names


async def serve(port: int, begin_string: str = "FIX.4.2", store_dir: str | None = None,
                host: str = "127.0.0.1", ready: asyncio.Event | None = None) -> None:
    cfg = conformance_config(begin_string)
    store: SessionStore = MemoryStore() if store_dir is None else open_store(
        store_dir, cfg.begin_string, cfg.sender_comp_id, cfg.target_comp_id, "none")
    session = FixSession(cfg, store, AcceptanceTestApplication())
    acceptor = AsyncAcceptor([session], host, port, refuse_with_logout=False)
    bound = await acceptor.start()
    print(f"conformance acceptor {cfg.begin_string} {cfg.sender_comp_id}<-{cfg.target_comp_id} "
          f"listening on {host}:{bound}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await acceptor.stop()
        store.close()


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="hft fix conformance-acceptor", description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, required=True, help="TCP port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--begin-string", default="FIX.4.2", choices=("FIX.4.2", "FIX.4.4"))
    ap.add_argument("--store", default=None, metavar="DIR",
                    help="keep the session store in files under DIR (default: in memory)")
    ap.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    a = ap.parse_args(argv)
    try:
        asyncio.run(serve(a.port, a.begin_string, a.store, a.host))
    except OSError as e:
        print(f"hft fix conformance-acceptor: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
