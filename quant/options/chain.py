"""A Deribit option chain, typed: book-summary rows -> strikes, expiries, USD prices, IV and greeks.

Deribit's inverse options quote ``mark_price``, ``bid_price`` and ``ask_price`` in the base coin
(a fraction of one ETH/BTC); the USD price is ``price_coin × underlying_price``, where
``underlying_price`` is the expiry's future (``ETH-26JAN24``) or a synthetic one
(``SYN.ETH-10JAN24``) for expiries without a listed future. The venue's mark is the Black-76 price
on that future with ``r = interest_rate`` (checked against its published ``mark_iv`` and greeks in
``tests/quant/options/test_options.py``), so this module solves the IV Black-76 on the same inputs.

Everything is derived from ``instrument_name`` (``ETH-26JAN24-1200-P``) and the venue's own
fields, so the same parser reads the bundled CSV and a live ``public/get_book_summary_by_currency``
frame (which lacks the CSV's derived ``strike_price`` / ``expire_date`` / ``option_type``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from quant.options.pricing import DAYS_PER_YEAR, black76_greeks, implied_vol

#: Deribit options expire at 08:00 UTC on the date in their name.
EXPIRY_HOUR_UTC = 8
SECONDS_PER_DAY = 86_400.0
#: Name pattern ``CCY-DMMMYY-STRIKE-C|P``; a ``d`` in the strike stands for a decimal point.
INSTRUMENT_PATTERN = r"^(?P<currency>[A-Z_]+)-(?P<day>\d{1,2})(?P<month>[A-Z]{3})(?P<year>\d{2})-(?P<strike>[0-9d.]+)-(?P<kind>[CP])$"
MONTHS = {m: i for i, m in enumerate(
    ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1)}
REQUIRED_FIELDS = (
    "instrument_name", "creation_timestamp", "underlying_price", "interest_rate", "mark_price",
    "bid_price", "ask_price", "open_interest",
)
#: :attr:`OptionChain.source` of a chain parsed from a venue's book summary.
SOURCE_BOOK_SUMMARY = "deribit book summary"
#: Columns of :attr:`OptionChain.quotes`, in order.
CHAIN_COLUMNS = (
    "instrument", "expiry", "strike", "option_type", "is_call", "t_years", "dte_days", "underlying_usd",
    "rate", "mark_coin", "bid_coin", "ask_coin", "mark_usd", "bid_usd", "ask_usd", "two_sided", "otm",
    "open_interest", "iv", "bid_iv", "ask_iv", "delta", "gamma", "vega_usd", "theta_usd",
)


@dataclass(frozen=True)
class OptionChain:
    """One snapshot of an option chain; ``quotes`` has one row per instrument.

    Attributes
    ----------
    as_of : snapshot time, UTC (the latest ``creation_timestamp`` unless given).
    currency : the base coin (``ETH``); one contract is one coin of underlying.
    quotes : columns :data:`CHAIN_COLUMNS`: ``expiry`` (UTC), ``strike`` (USD), ``option_type``
        (``C``/``P``), ``t_years`` (365-day years to expiry), ``dte_days`` (calendar days),
        ``underlying_usd`` (the expiry's forward), ``rate`` (decimal per year), prices in coin and
        USD per contract (NaN where the side is empty), ``two_sided`` (bid > 0 and ask > 0),
        ``otm`` (put strike < forward, call strike > forward), ``open_interest`` (contracts),
        ``iv`` / ``bid_iv`` / ``ask_iv`` (Black-76 implied vol of the mark / bid / ask, decimal),
        and at the mark IV ``delta``, ``gamma`` (per USD), ``vega_usd`` (per vol point) and
        ``theta_usd`` (per calendar day), all per contract.
    modelled : False for a market snapshot; True for a chain built by model from one
        (:func:`quant.options.model.recentre_chain`), whose prices no venue quoted.
    source : where the quotes come from, in words (:data:`SOURCE_BOOK_SUMMARY` for a parsed
        Deribit book summary; a modelled chain names the snapshot it was built from).
    """

    as_of: pd.Timestamp
    currency: str
    quotes: pd.DataFrame
    modelled: bool = False
    source: str = SOURCE_BOOK_SUMMARY

    def expiries(self) -> pd.DataFrame:
        """One row per expiry: ``expiry``, ``dte_days``, ``underlying_usd``, sorted by expiry."""
        grouped = self.quotes.groupby("expiry", sort=True)
        return grouped.agg(dte_days=("dte_days", "first"), underlying_usd=("underlying_usd", "first")).reset_index()


def parse_instrument_names(names: pd.Series) -> pd.DataFrame:
    """Currency, expiry (08:00 UTC), strike (float) and type of Deribit option names.

    Raises
    ------
    ValueError : when a name does not match :data:`INSTRUMENT_PATTERN` (a future, a combo, a typo).
    """
    parts = names.astype(str).str.extract(INSTRUMENT_PATTERN)
    bad = parts["kind"].isna()
    if bad.any():
        raise ValueError(f"not Deribit option names: {names[bad].head(3).tolist()}")
    expiry = pd.to_datetime(
        {
            "year": 2000 + parts["year"].astype(int),
            "month": parts["month"].map(MONTHS),
            "day": parts["day"].astype(int),
            "hour": EXPIRY_HOUR_UTC,
        },
        utc=True,
    ).astype("datetime64[ns, UTC]")
    return pd.DataFrame(
        {
            "currency": parts["currency"],
            "expiry": expiry,
            "strike": parts["strike"].str.replace("d", ".", regex=False).astype(float),
            "option_type": parts["kind"],
        },
        index=names.index,
    )


def _one_side(prices: pd.Series) -> pd.Series:
    """Venue prices as floats, an empty side (null or ≤ 0) as NaN."""
    values = pd.to_numeric(prices, errors="coerce").astype("float64")
    return values.where(values > 0)


def _snapshot_time(book: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.Timestamp:
    if as_of is not None:
        if as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware UTC")
        return as_of.tz_convert("UTC")
    stamps = pd.to_numeric(book["creation_timestamp"], errors="coerce")
    if stamps.isna().all():
        raise ValueError("no creation_timestamp in the book summary and no as_of given")
    return pd.Timestamp(int(stamps.max()), unit="ms", tz="UTC")


#: Implied vols outside this band are not a market but a bad quote (a price typo, a stale mark on a
#: moved underlying): the quote is treated as unpriced (NaN), so no strangle leg can be chosen from
#: it. Deribit's ETH and BTC marks sit within ~20%–300% even in crashes.
MIN_PLAUSIBLE_IV = 0.05
MAX_PLAUSIBLE_IV = 5.0


def plausible_iv(iv):
    """``iv`` (array or Series, kept as given) with values outside [MIN_PLAUSIBLE_IV, MAX_PLAUSIBLE_IV] set to NaN."""
    values = np.asarray(iv, dtype="float64")
    with np.errstate(invalid="ignore"):
        kept = np.where((values >= MIN_PLAUSIBLE_IV) & (values <= MAX_PLAUSIBLE_IV), values, np.nan)
    return pd.Series(kept, index=iv.index) if isinstance(iv, pd.Series) else kept


def parse_book_summary(book: pd.DataFrame, as_of: pd.Timestamp | None = None) -> OptionChain:
    """Type a Deribit ``get_book_summary_by_currency`` option frame and solve its implied vols.

    Parameters
    ----------
    book : one row per option, at least :data:`REQUIRED_FIELDS` (prices in the base coin).
    as_of : snapshot time (UTC); defaults to the latest ``creation_timestamp`` (milliseconds).

    Returns
    -------
    :class:`OptionChain` sorted by (expiry, strike, type). ``t_years`` runs from ``as_of`` to
    08:00 UTC on the expiry date in 365-day years. The IVs invert Black-76 on
    ``underlying_price`` with ``r = interest_rate`` (NaN where a price is outside the
    no-arbitrage bounds or the side is empty); greeks are Black-76 at the mark IV. A missing
    ``interest_rate`` is taken as 0, the value Deribit publishes; it is read as a decimal per year.

    Raises
    ------
    ValueError : a required field is missing, a name is not an option, the frame mixes coins,
        or quotes are not in the base coin (linear USDC options are not supported).
    """
    missing = [c for c in REQUIRED_FIELDS if c not in book.columns]
    if missing:
        raise ValueError(f"book summary lacks {missing}")
    if {"quote_currency", "base_currency"} <= set(book.columns) and (
        book["quote_currency"] != book["base_currency"]
    ).any():
        raise ValueError("only inverse options quoted in the base coin are supported")
    names = parse_instrument_names(book["instrument_name"])
    currencies = names["currency"].unique()
    if len(currencies) != 1:
        raise ValueError(f"one currency per chain, got {sorted(currencies)}")
    snapshot = _snapshot_time(book, as_of)

    q = names.drop(columns="currency").assign(instrument=book["instrument_name"].astype(str))
    q["is_call"] = q["option_type"] == "C"
    seconds = (q["expiry"] - snapshot).dt.total_seconds()
    q["t_years"] = seconds / (SECONDS_PER_DAY * DAYS_PER_YEAR)
    q["dte_days"] = seconds / SECONDS_PER_DAY
    q["underlying_usd"] = pd.to_numeric(book["underlying_price"], errors="coerce").astype("float64")
    q["rate"] = pd.to_numeric(book["interest_rate"], errors="coerce").fillna(0.0).astype("float64")
    q["mark_coin"] = _one_side(book["mark_price"])
    q["bid_coin"] = _one_side(book["bid_price"])
    q["ask_coin"] = _one_side(book["ask_price"])
    for side in ("mark", "bid", "ask"):
        q[f"{side}_usd"] = q[f"{side}_coin"] * q["underlying_usd"]
    q["two_sided"] = q["bid_coin"].notna() & q["ask_coin"].notna()
    q["otm"] = np.where(q["is_call"], q["strike"] > q["underlying_usd"], q["strike"] < q["underlying_usd"])
    q["open_interest"] = pd.to_numeric(book["open_interest"], errors="coerce").astype("float64")

    args = (q["underlying_usd"], q["strike"], q["t_years"])
    for side, column in (("mark", "iv"), ("bid", "bid_iv"), ("ask", "ask_iv")):
        q[column] = plausible_iv(implied_vol(q[f"{side}_usd"], *args, q["is_call"], q["rate"]))
    greeks = black76_greeks(*args, q["iv"], q["is_call"], q["rate"])
    q["delta"], q["gamma"], q["vega_usd"], q["theta_usd"] = greeks.delta, greeks.gamma, greeks.vega, greeks.theta

    quotes = q.loc[:, list(CHAIN_COLUMNS)].sort_values(["expiry", "strike", "option_type"]).reset_index(drop=True)
    return OptionChain(as_of=snapshot, currency=str(currencies[0]), quotes=quotes)


#: Parsed chains kept by content (the same snapshot answers every hour until a new one arrives).
CHAIN_CACHE_SIZE = 8
_PARSED: dict[tuple[int, int, tuple[str, ...]], OptionChain] = {}


def parse_book_summary_cached(book: pd.DataFrame) -> OptionChain:
    """``parse_book_summary(book)``, solved once per distinct snapshot content.

    Solving ~700 implied vols costs ~0.3 s; an hourly run meets the same recorded snapshot every
    hour until the venue publishes a new one. The key is a hash of every value and column name,
    so a changed price is a new snapshot.
    """
    key = (int(pd.util.hash_pandas_object(book, index=False).sum()), len(book), tuple(map(str, book.columns)))
    chain = _PARSED.get(key)
    if chain is None:
        chain = parse_book_summary(book)
        if len(_PARSED) >= CHAIN_CACHE_SIZE:
            _PARSED.pop(next(iter(_PARSED)))
        _PARSED[key] = chain
    return chain
