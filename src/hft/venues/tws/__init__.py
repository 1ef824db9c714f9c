"""IBKR TWS API: market depth and trades (:mod:`.source`), contracts (:mod:`.contracts`), the depth-row fold
(:mod:`.depth`) and a fake TWS API server speaking the real wire protocol for tests and benchmarks
(:mod:`.fake_server`).

The client library is ``ib_async`` (the optional extra ``hft[ibkr]``). It is imported only by
:mod:`.source`, :mod:`.contracts` and :func:`make_tws_source`, i.e. only when ``[market_data] source =
"tws"`` is configured: the rest of hft imports without it. :mod:`.depth` and :mod:`.fake_server` need only
the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hft.engine.config import Config


def make_tws_source(config: Config, **kwargs: Any) -> Any:
    """The TWS market data source for ``config`` (``[tws]`` and ``[market_data]``): a
    :class:`~hft.engine.gateway.MarketDataSource` whose ``run()`` coroutine connects (and reconnects) and
    whose ``on_timer(now_ns)`` the host calls from its timer. Raises ``RuntimeError`` with the install
    command when ``ib_async`` is missing."""
    try:
        import ib_async  # noqa: F401
    except ImportError:
        raise RuntimeError("market_data.source = 'tws' needs the ib_async package: pip install 'hft[ibkr]'") \
            from None
    from hft.venues.tws.source import TwsMarketData

    return TwsMarketData.from_config(config, **kwargs)
