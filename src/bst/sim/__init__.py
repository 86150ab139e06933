"""The local Bybit v5 exchange: seeded market generator, REST/WS server, matching engine.

Entry points: `bst.sim.generator.MarketGenerator` (ground truth), `bst.sim.server.SimServer` and
`bst.sim.state.SimConfig` (the server), `bst.engine` (matching, accounts). Nothing is imported
here so that the backtester can use the engine without loading the web stack.
"""
