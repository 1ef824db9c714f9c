"""Trading engine: strategy interface, order manager, positions and P&L, risk manager, journal."""
