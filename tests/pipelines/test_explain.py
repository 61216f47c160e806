"""``perpetua explain ORDER_ID`` on a short backfill of the real sample: the L3 hedge decided at
2025-03-06 12:00 and filled at 13:00, each link with its partition, data version and run, and the
fill's arithmetic checked against the ledger by hand."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance

from pipelines.cli import main
from pipelines.definitions import build_definitions
from pipelines.environments import Settings
from pipelines.explain import find
from pipelines.instance import instance_yaml, set_event_batching
from pipelines.runner import run_window
from resources.storage import read_hours

START = pd.Timestamp("2025-03-06 12:00", tz="UTC")
FILLED = START + pd.Timedelta(hours=1)
BANKROLL = 100_000.0
#: L3 options pay 1% of premium in fees (``quant.book.params.layer_fill_params``).
L3_FEE = 0.01

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    home = root / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(instance_yaml(home))
    set_event_batching()
    s = Settings("local", home, str(root / "storage"), f"sqlite:///{home / 'kill_switch.db'}")
    with DagsterInstance.from_config(str(home)) as inst:
        results = run_window(build_definitions(s), inst, START, START + pd.Timedelta(hours=3), chunk_hours=3)
    assert all(r.success for r in results)
    return root, next(r.run_id for r in results if r.job == "hourly_cycle")


@pytest.fixture
def cli(stored, monkeypatch):
    root, _ = stored
    monkeypatch.delenv("PERPETUA_ENV", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(root / "home"))
    monkeypatch.setenv("PERPETUA_STORAGE_ROOT", str(root / "storage"))
    monkeypatch.setenv("PERPETUA_KILL_SWITCH_URL", f"sqlite:///{root / 'home' / 'kill_switch.db'}")
    return root


def _data_version(root, asset: str, hour: pd.Timestamp) -> str:
    with DagsterInstance.from_config(str(root / "home")) as inst:
        rec = inst.fetch_materializations(AssetRecordsFilter(asset_key=AssetKey(asset),
                                                             asset_partitions=[f"{hour:%Y-%m-%d-%H:%M}"]), limit=1).records[0]
    return rec.event_log_entry.asset_materialization.tags["dagster/data_version"]


def test_explain_shows_every_link_of_a_filled_order(stored, cli, capsys):
    root, run_id = stored
    storage = str(root / "storage")
    intents = read_hours(storage, "order_intents_1h", pd.DatetimeIndex([START]))
    put = intents[intents["leg"] == "put"].iloc[0]
    order_id = put["client_order_id"]
    assert main(["explain", order_id]) == 0
    out = capsys.readouterr().out

    assert out.startswith(f"order {order_id}: L3 buy {put['symbol']} (deribit), decided 2025-03-06 12:00 UTC")
    for title, asset, hour in [("1 market data", "perp_ohlcv_1h", START), ("2 features", "features_1h", START),
                               ("3 signal (L3)", "tail_hedge_signals_1h", START), ("4 allocation", "layer_allocations_1h", START),
                               ("5 intent", "order_intents_1h", START), ("6 safeguards", "order_intents_1h", START),
                               ("7 fill", "fills_1h", FILLED), ("8 funding", "funding_settlements", FILLED),
                               ("9 P&L", "ledger_1h", FILLED)]:
        header = (f"{title}  [{asset} {hour:%Y-%m-%d-%H:%M}, data version {_data_version(root, asset, hour)[:16]}, "
                  f"run {run_id}]")
        assert header in out, header
    assert f"reason: {put['reason']}" in out
    assert "    approved\n" in out
    assert "no funding: only perpetual legs pay or receive funding (this leg is option)" in out

    # the fill, by hand: quantity x price is the notional, and L3 pays 1% of it
    fills = read_hours(storage, "fills_1h", pd.DatetimeIndex([FILLED]))
    fill = fills[fills["client_order_id"] == order_id].iloc[0]
    assert fill["filled_qty"] == put["qty"] == 99
    assert fill["filled_qty"] * fill["fill_price"] == pytest.approx(fill["notional"], rel=1e-12)
    assert fill["fee"] == pytest.approx(L3_FEE * fill["notional"], rel=1e-12)
    assert (f"99 x {fill['fill_price']:,.6f} = {fill['notional']:,.2f} USD notional (stored {fill['notional']:,.2f}); "
            f"fee {fill['fee']:,.2f} USD = 1% of it") in out

    # ... against the ledger: the position's fees are the hour's two legs' fees; both premiums and fees left the cash
    ledger = read_hours(storage, "ledger_1h", pd.DatetimeIndex([FILLED]))
    leg = ledger[(ledger["layer"] == "L3") & (ledger["symbol"] == put["position"])].iloc[0]
    assert len(fills) == 2
    assert leg["fees_usd"] == pytest.approx(fills["fee"].sum(), rel=1e-12)
    cash = ledger.loc[ledger["layer"] == "total", "cash_usd"].iloc[0]
    assert cash == pytest.approx(BANKROLL - (fills["notional"] + fills["fee"]).sum(), rel=1e-12)
    assert leg["pnl_usd"] == pytest.approx(leg["realised_usd"] + leg["unrealised_usd"] - leg["fees_usd"] + leg["funding_usd"],
                                           rel=1e-12)
    assert (f"fees 0.00 -> {leg['fees_usd']:,.2f} USD (+{leg['fees_usd']:,.2f} = this hour's 2 fill(s) of the position, "
            f"fees {fills['fee'].sum():,.2f})") in out
    assert (f"P&L {leg['pnl_usd']:,.2f} USD = realised 0.00 + unrealised {leg['unrealised_usd']:,.2f} - fees "
            f"{leg['fees_usd']:,.2f} + funding 0.00") in out


def test_a_fill_is_found_by_its_order_id_in_both_tables(stored):
    root, _ = stored
    storage = str(root / "storage")
    fills = read_hours(storage, "fills_1h", pd.DatetimeIndex([FILLED]))
    assert find(storage, fills["client_order_id"].iloc[1]) == {"order_intents_1h": START, "fills_1h": FILLED}


def test_an_unknown_id_is_an_error_naming_where_it_looked(stored, cli, capsys):
    root, _ = stored
    assert main(["explain", "pp-L3-000000000000000000000000"]) == 2
    err = capsys.readouterr().err
    assert "no order or fill with client order id 'pp-L3-000000000000000000000000'" in err
    assert f"{root / 'storage' / 'order_intents_1h'} (1 day files, 2025-03-06 .. 2025-03-06)" in err
    assert f"{root / 'storage' / 'fills_1h'} (1 day files" in err
    assert main(["explain", "  "]) == 2
    assert "needs a client order id" in capsys.readouterr().err


def test_a_perp_position_is_followed_to_its_close_with_its_funding(tmp_path):
    """A hand-made store: an L1 perp leg filled at 09:00, open 09:00..11:00, gone at 12:00; settlements at 08:00
    (before the fill: not counted), 10:00 and 12:00 (counted: the leg is held into both hours)."""
    from pipelines.explain_steps import funding_step
    from resources.storage import write_hours

    root = str(tmp_path)
    hours = pd.date_range("2025-06-01 08:00", periods=6, freq="h", tz="UTC")
    held = hours[1:4]
    write_hours(root, "positions_1h", hours, pd.DataFrame({
        "hour": held, "layer": "L1", "venue": "binance", "symbol": "BTC/USDT:USDT", "qty": -0.5}))
    write_hours(root, "funding_settlements", hours, pd.DataFrame({
        "hour": hours[[0, 2, 4]], "venue": "binance", "symbol": "BTC/USDT:USDT", "funding_rate": [0.0001, 0.0002, -0.0003]}))
    intent = pd.Series({"layer": "L1", "venue": "binance", "symbol": "BTC/USDT:USDT", "position": "BTC/USDT:USDT",
                        "instrument_kind": "perp"})
    lines, end = funding_step(root, intent, hours[1])
    assert end == hours[4]  # the close hour, whose ledger row holds the leg's final P&L
    assert lines == ["open 2025-06-01 09:00 .. 2025-06-01 11:00 UTC, closed by 2025-06-01 12:00",
                     "2 settlement(s) of binance BTC/USDT:USDT while held: rates +0.000200, -0.000300"]
