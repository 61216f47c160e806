"""The one function that chooses the environment (local / paper / live) and its resources.

``PERPETUA_ENV`` picks the environment (default ``local``); it is not a secret. Secrets — API
keys — only ever reach resources as ``dagster.EnvVar`` and are resolved at run time.

* ``local`` — the replay data through ``ReplayExchange`` and ``ReplayOptions``; no keys, no network.
  The data is ``data/sample``, or the folder ``PERPETUA_DATA_ROOT`` names (same layout), read by
  the resources when a run starts them (``resources.market.replay_root``), never here.
* ``paper`` — live public market data through ccxt, options through Deribit's public API;
  orders go to the simulator (later layers).
* ``live`` — as paper, with private endpoints; live orders still need their own switches.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dagster import EnvVar

from resources.alerts import AlertHook
from resources.broker.resource import OrderRouter
from resources.kill_switch import KillSwitch
from resources.market import MarketData, MarketUniverse, OptionsData
from resources.model_store import MlModelStore, ml_root
from resources.storage import HourlyParquetIOManager

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = PROJECT_ROOT / "var" / "dagster_home"
ENVIRONMENTS = ("local", "paper", "live")


@dataclass(frozen=True)
class Settings:
    """Where an environment keeps things.

    Attributes
    ----------
    environment : one of :data:`ENVIRONMENTS`.
    home : the Dagster instance folder (``DAGSTER_HOME``).
    storage_root : root of the hourly Parquet store (folder or fsspec URL).
    kill_switch_url : SQLAlchemy URL of the kill-switch table.
    """

    environment: str
    home: Path
    storage_root: str
    kill_switch_url: str


def settings(environment: str | None = None, home: str | Path | None = None) -> Settings:
    """Resolve settings from arguments, then ``PERPETUA_*`` / ``DAGSTER_HOME``, then defaults."""
    env = environment or os.environ.get("PERPETUA_ENV", "local")
    if env not in ENVIRONMENTS:
        raise ValueError(f"PERPETUA_ENV must be one of {ENVIRONMENTS}, got {env!r}")
    home_path = Path(home or os.environ.get("DAGSTER_HOME") or DEFAULT_HOME).resolve()
    storage = os.environ.get("PERPETUA_STORAGE_ROOT") or str(home_path.parent / "storage")
    kill = os.environ.get("PERPETUA_KILL_SWITCH_URL") or f"sqlite:///{home_path / 'kill_switch.db'}"
    return Settings(environment=env, home=home_path, storage_root=storage, kill_switch_url=kill)


#: The environment variables an alert destination is configured by (read as ``EnvVar`` at run time).
ALERT_ENV = {"webhook_url": "PERPETUA_ALERT_WEBHOOK_URL", "telegram_token": "PERPETUA_TELEGRAM_BOT_TOKEN",
             "telegram_chat_id": "PERPETUA_TELEGRAM_CHAT_ID"}


def alert_hook() -> AlertHook | None:
    """The alert destinations whose variables are set, each as an ``EnvVar``; None (silent) when none is."""
    fields = {name: EnvVar(var) for name, var in ALERT_ENV.items() if os.environ.get(var)}
    return AlertHook(**fields) if fields else None


def order_router(s: Settings) -> OrderRouter:
    """The order path's broker (read by reconciliation): only in ``live``, whose keys it reads as
    ``EnvVar``, on the venues' demo/testnet unless ``PERPETUA_ORDER_NETWORK=live``; elsewhere no
    venue (orders are simulated)."""
    if s.environment != "live":
        return OrderRouter(journal_url=s.kill_switch_url, venues={})
    return OrderRouter(journal_url=s.kill_switch_url, network=os.environ.get("PERPETUA_ORDER_NETWORK", "demo"),
                       api_key=EnvVar("PERPETUA_API_KEY"), api_secret=EnvVar("PERPETUA_API_SECRET"))


def resources_for(s: Settings) -> dict[str, object]:
    """The resource dict of an environment."""
    if s.environment == "local":
        market, universe, options = MarketData(kind="replay"), MarketUniverse(), OptionsData(kind="replay")
    else:
        # Live venues through ccxt: the sample's hyperliquid-only sets do not apply there; its
        # listings (Binance HYPE from 2025-05-30) are the venues' own and stay.
        universe = MarketUniverse(
            funding_venues=["binance", "bybit"], oi_venues=["binance"], include_sample_funding_set=False, coverage_starts={},
            coverage_gaps={},
        )
        market, options = MarketData(kind="ccxt"), OptionsData(kind="deribit")
        if s.environment == "live":
            market = MarketData(kind="ccxt", api_key=EnvVar("PERPETUA_API_KEY"), api_secret=EnvVar("PERPETUA_API_SECRET"))
    return {
        "market_data": market,
        "universe": universe,
        "options": options,
        "hourly_parquet": HourlyParquetIOManager(root=s.storage_root),
        "kill_switch": KillSwitch(url=s.kill_switch_url, alerts=alert_hook()),
        "order_router": order_router(s),
        "ml_models": MlModelStore(root=ml_root(s.storage_root)),
    }
