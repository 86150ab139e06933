"""The use cases the CLI and the service share: wiring from Settings, presets, guards.

One small module per use case: `venues` (environment presets, clients and stream configs),
`guards` (the mainnet guard), `inputs` (parsers of typed-in text), `stores`, `clock`, `market`,
`orders`, `downloads`, `candles`, `database`, `streams` (record, watch), `simulator` (`bst sim`),
`backtests` (run, list, show), `backtest_report` (a run's metrics as rows, its HTML report).
Nothing here prints, prompts or installs signal handlers: the caller renders and owns the process.
Import the module you need; this package imports none of them (`bst --help` stays light).
"""
