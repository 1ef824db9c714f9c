"""Journal: record format, torn tails, fsync policies, recovery, kill -9 crash path, `hft journal show`."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from hft.asx.fees import IbkrAsxFixed, ZeroFees
from hft.engine import journal_cli
from hft.engine.gateway import ExecReport, ExecType
from hft.engine.journal import MAGIC, Journal, JournalError, read_journal, recover
from hft.engine.orders import OrderManager
from hft.model.types import OrderRequest, OrdStatus, Side

S = OrdStatus


def _write(path: Path, n: int, fsync: str = "none") -> None:
    with Journal(path, fsync=fsync) as j:  # type: ignore[arg-type]
        for i in range(n):
            assert j.append("pos", {"instrument": "BHP", "position": i}) == j.last_seq


def test_roundtrip_and_seq_continues_after_reopen(tmp_path: Path) -> None:
    p = tmp_path / "j"
    _write(p, 5)
    _write(p, 3)
    recs, torn = read_journal(p)
    assert torn is None
    assert [r["q"] for r in recs] == list(range(1, 9))
    assert [r["position"] for r in recs] == [0, 1, 2, 3, 4, 0, 1, 2]


def test_every_truncation_point_is_detected_and_truncated(tmp_path: Path) -> None:
    p = tmp_path / "j"
    _write(p, 3)
    full = p.read_bytes()
    two = len(MAGIC)
    # byte offset where the 3rd record starts
    for _ in range(2):
        length = int.from_bytes(full[two:two + 4], "little")
        two += 8 + length
    for cut in range(two + 1, len(full)):
        p.write_bytes(full[:cut])
        got, torn = read_journal(p)
        assert [r["q"] for r in got] == [1, 2]
        assert torn is not None and torn.offset == two and torn.dropped_bytes == cut - two
        with Journal(p) as j:
            assert j.torn is not None and j.last_seq == 2
            j.append("pos", {"instrument": "X", "position": 9})
        got, torn = read_journal(p)
        assert [r["q"] for r in got] == [1, 2, 3] and torn is None and got[2]["instrument"] == "X"


def test_second_writer_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "j"
    with Journal(p, fsync="none"):
        with pytest.raises(JournalError, match="locked by another writer"):
            Journal(p)
        assert read_journal(p)[1] is None  # readers are fine
    with Journal(p, fsync="none") as j:  # released on close
        assert j.last_seq == 0


def test_crc_corruption_and_zero_tail_stop_reading(tmp_path: Path) -> None:
    p = tmp_path / "j"
    _write(p, 3)
    data = bytearray(p.read_bytes())
    data[len(MAGIC) + 8 + 3] ^= 0x01  # flip a payload bit of record 1
    p.write_bytes(bytes(data))
    recs, torn = read_journal(p)
    assert recs == [] and torn is not None and torn.reason == "crc mismatch"
    _write(tmp_path / "k", 2)
    k = tmp_path / "k"
    k.write_bytes(k.read_bytes() + b"\0" * 64)  # pre-allocated zeros after a power loss
    recs, torn = read_journal(k)
    assert len(recs) == 2 and torn is not None and "length 0" in torn.reason
    bad = tmp_path / "bad"
    bad.write_bytes(b"not a journal at all")
    with pytest.raises(JournalError):
        read_journal(bad)


def test_fsync_policies(tmp_path: Path) -> None:
    with Journal(tmp_path / "a", fsync="always") as j:
        for _ in range(10):
            j.append("pos", {"instrument": "A", "position": 1})
        assert j.syncs == 10
    with Journal(tmp_path / "b", fsync="batch", batch_max_records=4, batch_max_ns=10**12) as j:
        for _ in range(10):
            j.append("pos", {"instrument": "A", "position": 1})
        assert j.syncs == 2
        j.flush()
        assert j.syncs == 3
    with Journal(tmp_path / "c", fsync="none") as j:
        for _ in range(10):
            j.append("pos", {"instrument": "A", "position": 1})
        assert j.syncs == 0
    with pytest.raises(ValueError):
        Journal(tmp_path / "d", fsync="sometimes")  # type: ignore[arg-type]
    for name in "abc":
        assert len(read_journal(tmp_path / name)[0]) == 10


def _exec(o, et, st, qty=0, px=0, eid="", orig=""):  # type: ignore[no-untyped-def]
    return ExecReport(eid, o.cl_ord_id, orig, "V", et, st, o.side, o.instrument, px, qty, 0, 0, 0, "", 7,
                      False)


def test_recover_rebuilds_orders_fills_positions(tmp_path: Path) -> None:
    p = tmp_path / "j"
    with Journal(p) as j:
        om = OrderManager(None, j, IbkrAsxFixed())
        a = om.new_order(OrderRequest("BHP", Side.BUY, 451_200, 1000))
        b = om.new_order(OrderRequest("BHP", Side.SELL, 452_000, 400))
        c = om.new_order(OrderRequest("CBA", Side.BUY, 1_200_000, 10))
        assert a and b and c
        for o in (a, b, c):
            om.on_exec_report(_exec(o, ExecType.NEW, S.NEW, eid="n" + o.cl_ord_id))
        om.on_exec_report(_exec(a, ExecType.TRADE, S.PARTIALLY_FILLED, 600, 451_200, "f1"))
        om.on_exec_report(_exec(a, ExecType.TRADE, S.PARTIALLY_FILLED, 600, 451_200, "f1"))  # dup
        om.on_exec_report(_exec(b, ExecType.TRADE, S.FILLED, 400, 452_000, "f2"))
        assert om.cancel(c)
        b2 = om.replace(a, price=451_100)
        assert b2 is not None
        j.record_position("BHP", 200, 0, 1200, b.cl_ord_id)
        live = {k: (o.status, o.cum_qty, o.avg_px_num) for k, o in om.orders.items()}
    st = recover(p, IbkrAsxFixed())
    assert st.torn is None and st.session == om.session
    assert {k: (o.status, o.cum_qty, o.avg_px_num) for k, o in st.orders.items()} == live
    assert {o.cl_ord_id for o in st.open_orders} == {a.cl_ord_id, c.cl_ord_id}
    assert st.orders[c.cl_ord_id].status is S.PENDING_CANCEL
    assert st.orders[b2.cl_ord_id].status is S.PENDING_REPLACE
    assert [f.exec_id for f in st.fills] == ["f1", "f2"]
    assert st.positions == {"BHP": 600 - 400}
    assert st.cash_units == {"BHP": -600 * 451_200 + 400 * 452_000}
    fee = IbkrAsxFixed()
    assert st.fees_cents == fee.order_fee(600 * 451_200) + fee.order_fee(400 * 452_000)
    assert st.last_position_records["BHP"]["position"] == 200
    assert {"f1", "f2"} <= st.exec_ids
    assert {o.cl_ord_id for o in st.needs_status} == {a.cl_ord_id, c.cl_ord_id}
    # the next process takes over: the venue's late Replaced and cancel ack still resolve, no dup fill
    with Journal(p) as j:
        om2 = OrderManager(None, j, IbkrAsxFixed(), recovered=st)
        fills = []
        om2.on_fill = fills.append
        assert om2.session > st.session
        om2.on_exec_report(_exec(a, ExecType.TRADE, S.PARTIALLY_FILLED, 600, 451_200, "f1"))
        assert fills == [] and om2.counters["duplicate_execs"] == 1
        new_a = om2.orders[b2.cl_ord_id]
        om2.on_exec_report(_exec(new_a, ExecType.REPLACED, S.PARTIALLY_FILLED, orig=a.cl_ord_id, eid="r1"))
        assert om2.orders[a.cl_ord_id].status is S.REPLACED and new_a.status is S.PARTIALLY_FILLED
        om2.on_exec_report(_exec(om2.orders[c.cl_ord_id], ExecType.CANCELED, S.CANCELED, eid="x1"))
        assert [o.cl_ord_id for o in om2.open_orders()] == [new_a.cl_ord_id]
        assert om2.pending_cancel == 0 and om2.pending_replace == 0
        assert om2.counters["unsolicited_cancels"] == 0


_CHILD = textwrap.dedent("""
    import sys
    from hft.asx.fees import ZeroFees
    from hft.engine.gateway import ExecReport
    from hft.engine.journal import Journal, recover
    from hft.engine.orders import OrderManager
    from hft.model.types import OrderRequest, OrdStatus, Side
    path = sys.argv[1]
    import os
    st = recover(path) if os.path.exists(path) else None
    j = Journal(path, fsync="always")
    om = OrderManager(None, j, ZeroFees(), recovered=st)
    out = sys.stdout
    i = 0
    while True:
        i += 1
        o = om.new_order(OrderRequest("BHP", Side.BUY, 451200, 10))
        out.write(f"N {o.cl_ord_id} {j.last_seq}\\n"); out.flush()
        eid = f"{om.session}-{i}"
        om.on_exec_report(ExecReport(eid, o.cl_ord_id, "", "V", "F", OrdStatus.FILLED, Side.BUY, "BHP",
                                     451200, 10, 10, 0, 451200, "", 1, False))
        out.write(f"F {eid} {j.last_seq}\\n"); out.flush()
""")


@pytest.mark.slow
def test_kill_minus_9_loses_nothing_reported_durable(tmp_path: Path) -> None:
    path = tmp_path / "crash.journal"
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    rng = random.Random(1234)
    reported_orders: set[str] = set()
    reported_execs: set[str] = set()
    max_seq = 0
    deadline = time.monotonic() + 60
    iterations = 0
    while iterations < 8 and time.monotonic() < deadline:
        iterations += 1
        proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        # wait until it has made progress, then kill at a random moment
        first = proc.stdout.readline()
        assert first.startswith("N "), first
        time.sleep(rng.uniform(0.0, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        for line in [first, *rest.splitlines()]:
            parts = line.split()
            if len(parts) != 3:
                continue  # a line torn by the kill: not reported
            kind, ident, seq = parts
            (reported_orders if kind == "N" else reported_execs).add(ident)
            max_seq = max(max_seq, int(seq))
        st = recover(path)
        recs, _ = read_journal(path)
        assert [r["q"] for r in recs] == list(range(1, len(recs) + 1))  # no gap, no torn record returned
        assert st.last_seq >= max_seq
        assert reported_orders <= set(st.orders)
        assert reported_execs <= st.exec_ids
        assert len({f.exec_id for f in st.fills}) == len(st.fills)  # nothing duplicated
        assert sum(f.qty for f in st.fills) == st.positions.get("BHP", 0)
    assert iterations >= 3 and len(reported_orders) > iterations
    # ids never repeated across the restarts: one order per ClOrdID, sessions strictly increasing
    recs, _ = read_journal(path)
    sessions = [r["session"] for r in recs if r["t"] == "session"]
    assert sessions == sorted(set(sessions)) and len(sessions) == iterations
    assert len([r for r in recs if r["t"] == "new"]) == len(st.orders)


def test_journal_show_table_json_and_torn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "j"
    with Journal(p, fsync="none") as j:
        om = OrderManager(None, j, ZeroFees())
        o = om.new_order(OrderRequest("BHP", Side.BUY, 451_200, 100))
        assert o is not None
        om.on_exec_report(_exec(o, ExecType.TRADE, S.FILLED, 100, 451_250, "e1"))
    p.write_bytes(p.read_bytes() + b"\x10\x00\x00\x00junk")
    assert journal_cli.main([str(p)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "new" in lines[2] and o.cl_ord_id in lines[2] and "BUY" in lines[2] and "$45.12" in lines[2]
    assert "exec" in lines[3] and "$45.125" in lines[3] and "FILLED" in lines[3] and "100 (cum 0)" in lines[3]
    assert "TORN TAIL" in out and "TORN TAIL: 8 bytes" in err
    assert journal_cli.main([str(p), "--json"]) == 0
    out, _ = capsys.readouterr()
    objs = [json.loads(line) for line in out.splitlines()]
    assert [r["t"] for r in objs] == ["session", "new", "exec"]
    assert journal_cli.main([str(tmp_path / "missing")]) == 2


def test_preformatted_order_record_is_byte_identical_to_the_json_one(tmp_path: Path) -> None:
    from hft.engine.orders import _order_fields, _order_prefix
    from hft.model.types import Order, OrdType, TimeInForce

    orders = [Order("mq3x-17", "BHP", Side.BUY, 451_200, 100, TimeInForce.IOC, OrdType.LIMIT, created_ns=5),
              Order("a-1", "CBA.AX", Side.SELL, 0, 7, TimeInForce.DAY, OrdType.MARKET, cum_qty=3,
                    avg_px_num=99, orig_cl_ord_id="a-0", tag='quo"te\\ é\n\x01')]
    fixed_ns = 1_790_000_000_000_000_000
    import hft.engine.journal as jmod

    real = jmod.time.time_ns
    jmod.time.time_ns = lambda: fixed_ns  # type: ignore[assignment]
    try:
        with Journal(tmp_path / "a.bin", fsync="none") as a, Journal(tmp_path / "b.bin", fsync="none") as b:
            for o in orders:
                a.append("new", _order_fields(o))
                b.append_prefix(b'"new"', _order_prefix(o))
    finally:
        jmod.time.time_ns = real  # type: ignore[assignment]
    assert (tmp_path / "a.bin").read_bytes() == (tmp_path / "b.bin").read_bytes()
    recs, torn = read_journal(tmp_path / "b.bin")
    assert torn is None and recs[1]["tag"] == 'quo"te\\ é\n\x01' and recs[1]["orig"] == "a-0"


def test_order_manager_journals_new_orders_through_the_preformatted_path(tmp_path: Path) -> None:
    j = Journal(tmp_path / "j.bin", fsync="none")
    om = OrderManager(None, j, ZeroFees())
    o = om.new_order(OrderRequest("BHP", Side.BUY, 451_200, 100, tag="bid"))
    assert o is not None
    j.close()
    rec = [r for r in read_journal(tmp_path / "j.bin")[0] if r["t"] == "new"]
    assert rec and rec[0]["id"] == o.cl_ord_id and rec[0]["tag"] == "bid" and rec[0]["price"] == 451_200
    assert recover(tmp_path / "j.bin").orders[o.cl_ord_id].qty == 100
