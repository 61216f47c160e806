"""``OrderRouter``: the Dagster resource that builds the live order path.

Keys only as ``dagster.EnvVar`` (``api_key=EnvVar("PERPETUA_API_KEY")``), resolved when a run
starts; nothing is read from the environment here. ``network`` is ``"demo"`` unless set to
``"live"``, and even then an order goes out only when ``enable_live_orders`` and its layer's flag
(``live_layers``) are both on, read again at each submit.
"""

from __future__ import annotations

import math

import pandas as pd
from dagster import ConfigurableResource

from quant.book.safeguards import RiskLimits
from resources.broker.ccxt_broker import DEFAULT_HARD_TIMEOUT_S, DEFAULT_TIMEOUT_S, DEMO, CcxtBroker
from resources.broker.journal import OrderJournal

#: The columns of :meth:`OrderRouter.venue_fills` (``quant.book.venue_fills``'s table, plus the decision hour).
VENUE_FILL_COLUMNS = ["client_order_id", "hour", "state", "filled_qty", "avg_price", "fee"]
#: A nominal bankroll for the switches' ``RiskLimits`` (only ``enable_live_orders`` and ``live_layers`` are read).
_SWITCH_BANKROLL_USD = 1.0


class OrderRouter(ConfigurableResource):
    """Dagster resource over :class:`~resources.broker.ccxt_broker.CcxtBroker`.

    Attributes
    ----------
    journal_url : SQLAlchemy URL of the order journal (the kill switch's URL: same database).
    network : ``"demo"`` (default) or ``"live"``.
    venues : venue id -> ccxt id.
    api_key, api_secret : ``EnvVar`` only.
    enable_live_orders : the global switch; live_layers : the layers allowed to trade for real.
    timeout_s, hard_timeout_s : per-request and per-call limits (seconds).
    """

    journal_url: str
    network: str = DEMO
    venues: dict[str, str] = {"binance": "binanceusdm", "bybit": "bybit"}
    api_key: str | None = None
    api_secret: str | None = None
    enable_live_orders: bool = False
    live_layers: list[str] = []
    timeout_s: float = DEFAULT_TIMEOUT_S
    hard_timeout_s: float = DEFAULT_HARD_TIMEOUT_S

    def switches(self) -> RiskLimits:
        return RiskLimits(_SWITCH_BANKROLL_USD, enable_live_orders=self.enable_live_orders,
                          live_layers=frozenset(self.live_layers))

    def broker(self) -> CcxtBroker:
        return CcxtBroker(OrderJournal(self.journal_url), venues=self.venues, network=self.network,
                          api_key=self.api_key, api_secret=self.api_secret, live_switches=self.switches,
                          timeout_s=self.timeout_s, hard_timeout_s=self.hard_timeout_s)

    def venue_fills(self, first_hour: pd.Timestamp, last_hour: pd.Timestamp) -> pd.DataFrame:
        """The journal's record of every order of decision hours ``first_hour``..``last_hour`` (UTC,
        both included) on this router's network, as the book's ``venue_fills`` (one row per client
        order id: state, filled_qty, avg_price; ``fee`` NaN, the journal does not keep fees).

        Only the journal is read, never the venue: the book records what the order path last
        heard (the broker's submit, its lookups, a person's resolution); a fill the venue made
        later is named by reconciliation. An order of decision hour D is journalled after D's
        run, so its last event is at or after ``first_hour``: ``since`` keeps the read to the
        orders that can matter and never drops one of them.
        """
        first, last = pd.Timestamp(first_hour), pd.Timestamp(last_hour)
        journal = OrderJournal(self.journal_url)
        try:
            entries, _ = journal.entries(since=first.to_pydatetime())
        finally:
            journal.dispose()
        rows = [(e.report.client_order_id, pd.Timestamp(e.hour), e.report.state, e.report.filled_qty, e.report.avg_price,
                 math.nan) for e in entries if e.report.network == self.network and first <= pd.Timestamp(e.hour) <= last]
        rows.sort(key=lambda r: (r[1], r[0]))
        return pd.DataFrame(rows, columns=VENUE_FILL_COLUMNS).astype(
            {"client_order_id": "str", "hour": "datetime64[ns, UTC]", "state": "str", "filled_qty": "float64",
             "avg_price": "float64", "fee": "float64"})
