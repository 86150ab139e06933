"""bybit layer."""
