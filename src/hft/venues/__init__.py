"""Connections to venues and brokers behind the engine's two small interfaces
(:class:`hft.engine.gateway.MarketDataSource` and :class:`hft.engine.gateway.OrderGateway`).

``tws``: IBKR's TWS API (IB Gateway / TWS): market depth and trades, contracts.
"""
