"""A fixed-bucket latency histogram for the hot path: O(log buckets) record, no allocation.

``record(ns)`` is one ``bisect_left`` (a C call) plus two list stores; the buckets are Prometheus
``le`` bounds, so the exporter publishes them exactly (no re-binning). Percentiles are estimated by
linear interpolation inside a bucket, good enough for a status line; the latency benchmark uses a full
HdrHistogram for its headline numbers.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence

# 1 us .. 1 s, roughly 1-2-5 steps, finer where trading latencies live (10-200 us)
DEFAULT_BOUNDS_NS: tuple[int, ...] = (
    1_000, 2_000, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 50_000, 60_000, 75_000,
    100_000, 150_000, 200_000, 300_000, 500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000,
    50_000_000, 100_000_000, 1_000_000_000,
)


class LatencyHistogram:
    """Counts of latencies (ns) per bucket ``(bounds[i-1], bounds[i]]`` plus an overflow bucket."""

    __slots__ = ("_bounds", "_counts", "count", "max_ns", "min_ns", "name", "sum_ns")

    def __init__(self, name: str = "latency", bounds_ns: Sequence[int] = DEFAULT_BOUNDS_NS) -> None:
        if list(bounds_ns) != sorted(set(bounds_ns)) or not bounds_ns or bounds_ns[0] <= 0:
            raise ValueError("bounds_ns must be strictly increasing positive integers")
        self.name = name
        self._bounds = list(bounds_ns)
        self._counts = [0] * (len(self._bounds) + 1)
        self.count = 0
        self.sum_ns = 0
        self.max_ns = 0
        self.min_ns = 0

    def record(self, ns: int) -> None:
        """Record one latency in nanoseconds (negative values count as 0)."""
        if ns < 0:
            ns = 0
        # bisect_left puts a value equal to a bound inside that bound's bucket (Prometheus "le")
        self._counts[bisect_left(self._bounds, ns)] += 1
        self.count += 1
        self.sum_ns += ns
        if ns > self.max_ns:
            self.max_ns = ns
        if self.count == 1 or ns < self.min_ns:
            self.min_ns = ns

    @property
    def bounds_ns(self) -> list[int]:
        return list(self._bounds)

    def bucket_counts(self) -> list[int]:
        """Non-cumulative counts; the last entry is the overflow (> last bound)."""
        return list(self._counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """Prometheus-style cumulative buckets ``(le_seconds, count)`` ending with ``+Inf``."""
        out: list[tuple[float, int]] = []
        acc = 0
        for bound, c in zip(self._bounds, self._counts, strict=False):
            acc += c
            out.append((bound / 1e9, acc))
        out.append((float("inf"), acc + self._counts[-1]))
        return out

    def percentile(self, q: float) -> float:
        """Estimated q-th percentile in ns (0 < q <= 100), interpolated inside the bucket."""
        if self.count == 0:
            return 0.0
        rank = q / 100.0 * self.count
        acc = 0
        lower = 0
        for i, c in enumerate(self._counts):
            upper = self._bounds[i] if i < len(self._bounds) else max(self.max_ns, lower)
            if c and acc + c >= rank:
                frac = (rank - acc) / c
                est = lower + frac * (upper - lower)
                return float(min(max(est, self.min_ns), self.max_ns))
            acc += c
            lower = upper
        return float(self.max_ns)

    def reset(self) -> None:
        for i in range(len(self._counts)):
            self._counts[i] = 0
        self.count = self.sum_ns = self.max_ns = self.min_ns = 0

    def summary(self) -> dict[str, float]:
        return {
            "count": self.count,
            "p50_us": self.percentile(50) / 1e3,
            "p90_us": self.percentile(90) / 1e3,
            "p99_us": self.percentile(99) / 1e3,
            "max_us": self.max_ns / 1e3,
        }
