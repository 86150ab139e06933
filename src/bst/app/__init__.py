"""The use cases the CLI and the service share: wiring from Settings, presets, guards."""
