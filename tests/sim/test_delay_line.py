"""DelayLine: FIFO under jitter, delays applied, one failing item does not strand the rest."""

from __future__ import annotations

import asyncio

from hft.sim.config import LatencySampler, LatencySpec
from hft.sim.latency import DelayLine


def test_fifo_delay_and_failure_isolation() -> None:
    async def run() -> tuple[list[int], list[float], float]:
        loop = asyncio.get_running_loop()
        line = DelayLine(loop, LatencySampler(LatencySpec(2_000.0, 3_000.0, "exponential"), 5))
        out: list[int] = []
        times: list[float] = []
        t0 = loop.time()

        def item(i: int) -> None:
            if i == 3:
                raise RuntimeError("boom")
            out.append(i)
            times.append(loop.time() - t0)

        for i in range(50):
            line.put(item, i)
        while len(out) < 49:
            await asyncio.sleep(0.005)
        assert len(line) == 0
        return out, times, t0

    out, times, _ = asyncio.run(run())
    assert out == [i for i in range(50) if i != 3]
    assert min(times) >= 0.002 and times == sorted(times)
