"""The mainnet guard: credentials everywhere, an explicit permission on mainnet, a permit per env."""

from __future__ import annotations

import pytest

from bst.app.guards import Refusal, TradingRefusedError, check_trading, require_credentials
from bst.app.orders import cancel_orders, place_order
from bst.domain.errors import ConfigError
from bst.domain.market import Category, Side
from bst.domain.orders import OrderRequest, OrderType
from bst.settings import Environment, Settings


def settings(env: Environment, *, keys: bool = True) -> Settings:
    pair = {"api_key": "k", "api_secret": "s"} if keys else {}
    return Settings(env=env, api_base_url="http://127.0.0.1:1", **pair)  # type: ignore[arg-type]


@pytest.mark.parametrize("env", list(Environment))
def test_no_credentials_no_trading_anywhere(env: Environment) -> None:
    with pytest.raises(TradingRefusedError) as refused:
        check_trading(settings(env, keys=False), allow_mainnet=True)
    assert refused.value.reason is Refusal.NO_CREDENTIALS
    assert "BYBIT_API_KEY" in str(refused.value)
    with pytest.raises(TradingRefusedError):
        require_credentials(settings(env, keys=False))


def test_mainnet_needs_the_explicit_permission() -> None:
    with pytest.raises(TradingRefusedError) as refused:
        check_trading(settings(Environment.MAINNET), allow_mainnet=False)
    assert refused.value.reason is Refusal.MAINNET_NOT_ALLOWED
    assert isinstance(refused.value, ConfigError)
    permit = check_trading(settings(Environment.MAINNET), allow_mainnet=True)
    assert (permit.env, permit.real_money) == (Environment.MAINNET, True)


@pytest.mark.parametrize("env", [Environment.TESTNET, Environment.DEMO, Environment.SIM])
def test_elsewhere_no_permission_and_no_real_money(env: Environment) -> None:
    permit = check_trading(settings(env), allow_mainnet=False)
    assert (permit.env, permit.real_money) == (env, False)
    assert permit.credentials.api_key == "k"


async def test_a_permit_for_one_environment_sends_nothing_to_another() -> None:
    permit = check_trading(settings(Environment.TESTNET), allow_mainnet=False)
    order = OrderRequest(Category.LINEAR, "BTCUSDT", Side.BUY, OrderType.MARKET, qty=1)  # type: ignore[arg-type]
    # Port 1 is closed: reaching the network would raise a connection error, not this.
    with pytest.raises(ConfigError, match="the trading permit is for testnet, not mainnet"):
        await place_order(settings(Environment.MAINNET), permit, order)
    with pytest.raises(ConfigError, match="the trading permit is for testnet, not sim"):
        await cancel_orders(settings(Environment.SIM), permit, Category.LINEAR, "BTCUSDT", every=True)
