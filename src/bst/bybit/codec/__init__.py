"""JSON <-> domain: the only place that knows Bybit's field names."""
