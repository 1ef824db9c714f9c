"""``hft bench ring``: the shared-memory SPSC ring vs ``multiprocessing.Queue`` vs ``os.pipe``.

The producer is this process, the consumer a forked child; both exchange messages of the same size
(``--size`` bytes, default 64: a sequence number, the producer's ``CLOCK_MONOTONIC`` send time in ns and
padding), one message per operation, through each transport in turn in the same run:

* ``ring``: :class:`hft.runtime.ring.SpscRing` (copy in with ``try_push``, copy out with
  ``try_pop_into``); the consumer spins on an empty ring (it burns a core; that is the point).
* ``ring_yield``: the same ring, but the consumer calls ``os.sched_yield()`` after every empty poll, so a
  producer sharing its core (no pinning, or fewer free cores than spinners) still gets to run.
* ``mp_queue``: ``multiprocessing.Queue.put(bytes)`` / ``get()`` (pickling, a feeder thread, a pipe and a
  lock underneath); the consumer blocks in ``get``.
* ``pipe``: ``os.write`` / ``os.read`` of the same bytes on an ``os.pipe``; the consumer blocks in ``read``.

Two measurements per transport:

* throughput: ``--messages`` sent as fast as the producer can; messages/s = count / (consumer's last
  receive time - producer's first send time);
* one-way latency: ``--latency-messages`` sent one every ``--interval-us`` (the producer sleeps between
  sends, so the queue is normally empty, the number is the hand-off, not queueing, and ``Queue``'s feeder
  thread gets the GIL); latency = consumer's receive time - the send time carried
  in the message, both ``time.monotonic_ns()`` (one system-wide clock). p50/p90/p99/p99.9/max in ns.

``--pin P,C`` pins producer and consumer to cores P and C (``hft.runtime.affinity``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import struct
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from hft.runtime.ring import SpscRing

TRANSPORTS = ("ring", "ring_yield", "mp_queue", "pipe")
_HDR = struct.Struct("<QQ")  # seq, send monotonic ns


def _percentiles(lat: np.ndarray) -> dict[str, float | int]:
    if lat.size == 0:
        return {"count": 0}
    p50, p90, p99, p999 = np.percentile(lat, [50, 90, 99, 99.9])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "p99_9": float(p999),
            "max": int(lat.max()), "mean": float(lat.mean()), "count": int(lat.size)}


def _pin(core: int | None) -> None:
    if core is not None:
        from hft.runtime.affinity import set_affinity

        set_affinity([core])


# ------------------------------------------------------------------------------------------- consumer
def _nothing() -> None:
    pass


def _consume(kind: str, handle: Any, count: int, size: int, lat: np.ndarray) -> tuple[int, int]:
    """Receive ``count`` messages; record one-way latency of each in ``lat``; return (last receive ns,
    number of sequence errors)."""
    hdr_unpack = _HDR.unpack_from
    mono = time.monotonic_ns
    errors = 0
    now = 0
    if kind in ("ring", "ring_yield"):
        ring: SpscRing = handle
        idle = os.sched_yield if kind == "ring_yield" else _nothing
        out = memoryview(bytearray(ring.max_record))  # a memoryview target copies faster than a bytearray
        pop = ring.try_pop_into
        i = 0
        while i < count:
            if pop(out) < 0:
                idle()
                continue
            now = mono()
            seq, sent = hdr_unpack(out, 0)
            lat[i] = now - sent
            if seq != i:
                errors += 1
            i += 1
    elif kind == "mp_queue":
        get = handle.get
        for i in range(count):
            msg = get()
            now = mono()
            seq, sent = hdr_unpack(msg, 0)
            lat[i] = now - sent
            if seq != i or len(msg) != size:
                errors += 1
    else:
        fd: int = handle
        read = os.read
        for i in range(count):
            msg = read(fd, size)
            while len(msg) < size:  # writes of <= PIPE_BUF are atomic, so this is only a safety net
                msg += read(fd, size - len(msg))
            now = mono()
            seq, sent = hdr_unpack(msg, 0)
            lat[i] = now - sent
            if seq != i:
                errors += 1
    return now, errors


def _consumer_main(kind: str, handle: Any, counts: tuple[int, int], size: int, core: int | None,
                   ctl: Connection, close_fd: int = -1) -> None:
    if close_fd >= 0:  # the pipe's write end: only the producer may hold it, so its death means EOF
        os.close(close_fd)
    _pin(core)
    if kind in ("ring", "ring_yield"):
        handle = SpscRing.attach(handle)
    try:
        results = []
        for count in counts:
            lat = np.zeros(count, dtype=np.int64)
            ctl.send("ready")
            last, errors = _consume(kind, handle, count, size, lat)
            results.append((last, errors, _percentiles(lat)))
        ctl.send(results)
    finally:
        if kind in ("ring", "ring_yield"):
            handle.close()
        ctl.close()


# ------------------------------------------------------------------------------------------- producer
def _produce(kind: str, handle: Any, count: int, size: int, interval_ns: int,
             alive: Any = lambda: True) -> int:
    """Send ``count`` messages (paced by ``interval_ns`` when > 0); return the first send time."""
    msg = bytearray(size)
    pack = _HDR.pack_into
    mono = time.monotonic_ns
    sleep = time.sleep
    first = mono()
    due = first
    if kind in ("ring", "ring_yield"):
        push = handle.try_push
        idle = os.sched_yield if kind == "ring_yield" else _nothing
        for i in range(count):
            if interval_ns:
                due += interval_ns
                wait = due - mono()
                if wait > 0:
                    sleep(wait * 1e-9)
            pack(msg, 0, i, mono())
            spins = 0
            while not push(msg):
                idle()
                spins += 1
                if not spins & 0xFFFF and not alive():
                    raise RuntimeError(f"{kind}: the consumer process died")
    elif kind == "mp_queue":
        put = handle.put
        for i in range(count):
            if interval_ns:
                due += interval_ns
                wait = due - mono()
                if wait > 0:
                    sleep(wait * 1e-9)
            pack(msg, 0, i, mono())
            put(bytes(msg), True, 60.0)  # the feeder thread pickles later: hand it an immutable copy
    else:
        fd: int = handle
        write = os.write
        for i in range(count):
            if interval_ns:
                due += interval_ns
                wait = due - mono()
                if wait > 0:
                    sleep(wait * 1e-9)
            pack(msg, 0, i, mono())
            write(fd, msg)
    return first


def run_transport(kind: str, messages: int, latency_messages: int, size: int, interval_us: float,
                  capacity: int, pin: tuple[int, int] | None = None,
                  timeout: float = 120.0) -> dict[str, Any]:
    """Throughput then paced latency for one transport, producer here and consumer in a child process."""
    ctx = mp.get_context("fork")
    ctl_parent, ctl_child = ctx.Pipe()
    ring: SpscRing | None = None
    queue: Any = None
    rfd = wfd = -1
    if kind in ("ring", "ring_yield"):
        slot = max(16, (size + 8 + 63) // 64 * 64)
        ring = SpscRing.create(capacity, slot)
        child_handle: Any = ring.name
        prod_handle: Any = ring
    elif kind == "mp_queue":
        queue = ctx.Queue(maxsize=capacity)
        child_handle = prod_handle = queue
    elif kind == "pipe":
        rfd, wfd = os.pipe()
        child_handle, prod_handle = rfd, wfd
    else:
        raise ValueError(f"unknown transport {kind!r} (choose from {', '.join(TRANSPORTS)})")
    counts = (messages, latency_messages)
    proc = ctx.Process(target=_consumer_main,
                       args=(kind, child_handle, counts, size, pin[1] if pin else None, ctl_child, wfd),
                       daemon=True)
    proc.start()
    ctl_child.close()
    if rfd >= 0:  # the child reads; with our copy closed a dead child turns writes into BrokenPipeError
        os.close(rfd)
        rfd = -1
    try:
        firsts = []
        for count, interval_ns in ((messages, 0), (latency_messages, int(interval_us * 1000))):
            if not ctl_parent.poll(timeout):
                raise RuntimeError(f"{kind}: consumer did not start")
            try:
                ctl_parent.recv()
            except EOFError:
                raise RuntimeError(f"{kind}: the consumer process died") from None
            try:
                firsts.append(_produce(kind, prod_handle, count, size, interval_ns, proc.is_alive))
            except BrokenPipeError:  # the pipe's reader (the consumer) is gone
                raise RuntimeError(f"{kind}: the consumer process died (broken pipe)") from None
        if not ctl_parent.poll(timeout):
            raise RuntimeError(f"{kind}: consumer did not finish within {timeout:g}s")
        try:
            (last_tp, err_tp, _), (_, err_lat, lat) = ctl_parent.recv()
        except EOFError:
            raise RuntimeError(f"{kind}: the consumer process died") from None
        proc.join(timeout)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()
        ctl_parent.close()
        if ring is not None:
            ring.close()
            ring.unlink()
        if queue is not None:
            queue.close()
            queue.join_thread()
        for fd in (rfd, wfd):
            if fd >= 0:
                os.close(fd)
    elapsed = max(1, last_tp - firsts[0])
    return {"msgs_per_s": messages * 1e9 / elapsed, "throughput_seconds": elapsed / 1e9,
            "latency_ns": lat, "errors": err_tp + err_lat}


def run(messages: int, latency_messages: int, size: int, interval_us: float, capacity: int,
        transports: tuple[str, ...] = TRANSPORTS, pin: tuple[int, int] | None = None,
        repeats: int = 1) -> dict[str, Any]:
    if size < _HDR.size:
        raise ValueError(f"--size must be at least {_HDR.size} bytes (sequence number + timestamp)")
    if size > 4096:
        raise ValueError("--size must be at most 4096 bytes (PIPE_BUF: pipe writes stay atomic)")
    if capacity < 1 or capacity & (capacity - 1):
        raise ValueError(f"--capacity must be a power of two, got {capacity}")
    per: dict[str, list[dict[str, Any]]] = {k: [] for k in transports}
    load_before = os.getloadavg()[0]
    saved = os.sched_getaffinity(0)
    _pin(pin[0] if pin else None)
    try:
        for _ in range(repeats):
            for kind in transports:  # interleaved: every transport sees the same machine conditions
                per[kind].append(
                    run_transport(kind, messages, latency_messages, size, interval_us, capacity, pin))
    finally:
        os.sched_setaffinity(0, saved)
    results: dict[str, Any] = {}
    for kind, runs in per.items():
        best = max(runs, key=lambda r: r["msgs_per_s"])
        lat_runs = sorted(runs, key=lambda r: r["latency_ns"].get("p50", 0.0))
        results[kind] = {"msgs_per_s": round(best["msgs_per_s"]),
                         "latency_ns": lat_runs[len(lat_runs) // 2]["latency_ns"],
                         "errors": sum(r["errors"] for r in runs)}
    ratios: dict[str, float] = {}
    for base in ("ring", "ring_yield"):
        if base not in results:
            continue
        b = results[base]
        bl = b["latency_ns"]
        for other in ("mp_queue", "pipe"):
            if other not in results:
                continue
            o = results[other]
            ol = o["latency_ns"]
            ratios[f"{base}_over_{other}_msgs_per_s"] = round(b["msgs_per_s"] / max(1, o["msgs_per_s"]), 2)
            if bl.get("p50") and ol.get("p50"):
                ratios[f"{other}_over_{base}_p50_latency"] = round(ol["p50"] / bl["p50"], 2)
                ratios[f"{other}_over_{base}_p99_latency"] = round(ol["p99"] / bl["p99"], 2)
    return {
        "benchmark": "ring",
        "message_bytes": size,
        "messages": messages,
        "latency_messages": latency_messages,
        "interval_us": interval_us,
        "capacity": capacity,
        "repeats": repeats,
        "pin": list(pin) if pin else None,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                    "platform": platform.platform(), "loadavg_1min_before": round(load_before, 2),
                    "loadavg_1min_after": round(os.getloadavg()[0], 2)},
        "results": results,
        "ratios": ratios,
        "notes": "msgs_per_s best of repeats; latency_ns from the repeat with the median p50; "
                 "ring consumer spins, mp_queue/pipe consumers block; paced producer sleeps",
    }


def _parse_pin(text: str) -> tuple[int, int]:
    try:
        p, c = (int(x) for x in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--pin wants PRODUCER_CORE,CONSUMER_CORE, got {text!r}") from None
    return p, c


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="hft bench ring", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=200_000, help="messages for the throughput run (200000)")
    ap.add_argument("--latency-messages", type=int, default=20_000,
                    help="paced messages for the latency run (20000)")
    ap.add_argument("--interval-us", type=float, default=50.0,
                    help="producer pacing in the latency run, microseconds between messages (50)")
    ap.add_argument("--size", type=int, default=64, help="message size in bytes, 16..4096 (64)")
    ap.add_argument("--capacity", type=int, default=4096,
                    help="ring slots and Queue maxsize, a power of two (4096)")
    ap.add_argument("--transports", default=",".join(TRANSPORTS),
                    help=f"comma-separated subset of {','.join(TRANSPORTS)} (all)")
    ap.add_argument("--pin", type=_parse_pin, default=None, metavar="P,C",
                    help="pin producer to core P and consumer to core C (default: no pinning)")
    ap.add_argument("--repeats", type=int, default=1, help="runs of every transport, interleaved (1)")
    ap.add_argument("--json", action="store_true", help="print the result as JSON")
    return ap


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    transports = tuple(t.strip() for t in args.transports.split(",") if t.strip())
    bad = [t for t in transports if t not in TRANSPORTS]
    if bad or not transports:
        print(f"hft bench ring: unknown transport(s) {bad} (choose from {', '.join(TRANSPORTS)})",
              file=sys.stderr)
        return 2
    for name in ("messages", "latency_messages", "repeats"):
        if getattr(args, name) < 1:
            print(f"hft bench ring: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    try:
        out = run(args.messages, args.latency_messages, args.size, args.interval_us, args.capacity,
                  transports, args.pin, args.repeats)
    except (ValueError, OSError, RuntimeError) as e:
        print(f"hft bench ring: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"{args.size}-byte messages; throughput {args.messages} msgs, latency {args.latency_messages} msgs "
          f"every {args.interval_us:g} us; load average {out['machine']['loadavg_1min_before']} on "
          f"{out['machine']['cpus']} CPUs")
    print(f"{'transport':<10} {'msgs/s':>12} {'p50 us':>9} {'p99 us':>9} {'p99.9 us':>9} {'max us':>9}")
    for kind, r in out["results"].items():
        lat = r["latency_ns"]
        print(f"{kind:<10} {r['msgs_per_s']:>12,} {lat['p50'] / 1e3:>9.2f} {lat['p99'] / 1e3:>9.2f} "
              f"{lat['p99_9'] / 1e3:>9.2f} {lat['max'] / 1e3:>9.2f}")
    for k, v in out["ratios"].items():
        print(f"  {k}: {v}")
    return 0
