"""bst, the Bybit Strategy Tester."""

__version__ = "0.1.0"
