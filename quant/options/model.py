"""L3 modelled option chain: a recorded IV surface moved to a new time and underlying price.

When no option chain was recorded at an hour (the bundled sample holds one Deribit snapshot, of
2024-01-08, while its perp candles run through 2025), the L3 layer still needs a chain to choose
a strangle from. :func:`recentre_chain` builds one from the snapshot by a sticky-moneyness
move (Derman, "Regimes of Volatility", Risk 1999: implied vol is kept per moneyness K/F while
the underlying moves):

* time: every expiry is shifted by ``as_of − snapshot.as_of``, so each option keeps its
  days to expiry (a 30-day option stays a 30-day option);
* price: every strike and every expiry's forward is multiplied by ONE ratio,
  ``underlying_usd / F_near``, where ``F_near`` is the forward of the snapshot's nearest live
  expiry. A perp close is a near-spot price and ``F_near`` is the snapshot's nearest thing to
  spot, so one ratio maps spot to spot while each expiry keeps its forward's premium over it
  (the snapshot's basis curve) and its strike grid's spacing in moneyness. (Scaling each
  expiry by ``underlying_usd / F_expiry`` instead would set every forward to the perp close
  and flatten the term structure of basis.)
* vols: the mark, bid and ask IVs of each option are kept (its K/F is unchanged), and prices and
  greeks are recomputed with Black-76 (:mod:`quant.options.pricing`).

Black-76 is homogeneous of degree one in (F, K) at a fixed time to expiry, so the move leaves
coin prices and deltas unchanged and multiplies USD prices, vega and theta by the ratio and
gamma by its inverse; ``tests/quant/options/test_model.py`` checks this on the real snapshot.
Quotes whose IV is not identified (a bid at or below intrinsic) carry their coin price over for
the same reason. The result says it is a model: ``modelled=True``, a ``source`` naming the
snapshot, and instrument names prefixed :data:`MODELLED_PREFIX` — no venue lists those contracts.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import pandas as pd

from quant.options.chain import CHAIN_COLUMNS, SECONDS_PER_DAY, OptionChain
from quant.options.pricing import DAYS_PER_YEAR, black76_greeks, gbs_price

#: Prefix of a modelled option's name: the snapshot instrument whose implied vols it carries.
MODELLED_PREFIX = "model:"
#: What a modelled chain's source says it was recentred on, unless the caller names it.
DEFAULT_REFERENCE = "a given underlying price"
#: Quote sides: (price column stem, implied-vol column) of :data:`quant.options.chain.CHAIN_COLUMNS`.
SIDES = (("mark", "iv"), ("bid", "bid_iv"), ("ask", "ask_iv"))


def anchor_forward(chain: OptionChain) -> float:
    """Forward (USD) of the chain's nearest live expiry: the reference for one move ratio.

    Raises
    ------
    ValueError : no expiry ahead of ``chain.as_of`` has a positive forward.
    """
    q = chain.quotes
    live = q[(q["dte_days"] > 0) & (q["underlying_usd"] > 0)]
    if live.empty:
        raise ValueError(f"the {chain.currency} chain of {chain.as_of} has no live expiry with a forward price")
    return float(live.loc[live["dte_days"].idxmin(), "underlying_usd"])


def modelled_source(snapshot: OptionChain, reference: str) -> str:
    """The ``source`` text of a chain recentred from ``snapshot`` on ``reference``."""
    return f"modelled: {snapshot.as_of:%Y-%m-%d} Deribit {snapshot.currency} IV surface recentred on {reference}"


def _validate(snapshot: OptionChain, underlying_usd: float, as_of: pd.Timestamp) -> None:
    is_number = isinstance(underlying_usd, numbers.Real) and not isinstance(underlying_usd, bool)
    if not (is_number and math.isfinite(underlying_usd) and underlying_usd > 0):
        raise ValueError(f"underlying_usd must be a positive finite price, got {underlying_usd!r}")
    if not isinstance(as_of, pd.Timestamp) or as_of.tzinfo is None:
        raise ValueError(f"as_of must be a timezone-aware UTC pd.Timestamp, got {as_of!r}")
    if as_of < snapshot.as_of:
        raise ValueError(
            f"as_of {as_of} is before the snapshot of {snapshot.as_of}: a chain cannot be modelled back in time"
        )
    if snapshot.modelled:
        raise ValueError(f"the chain is already modelled ({snapshot.source}); recentre the market snapshot itself")


def recentre_chain(
    snapshot: OptionChain, underlying_usd: float, as_of: pd.Timestamp, *, reference: str = DEFAULT_REFERENCE
) -> OptionChain:
    """``snapshot``'s IV surface moved to ``as_of`` and ``underlying_usd`` (see module docstring).

    Parameters
    ----------
    snapshot : a market chain (``modelled=False``), e.g. :func:`quant.options.chain.parse_book_summary`.
    underlying_usd : the underlying's price now, USD (a perp close); it becomes the nearest
        expiry's forward, every other forward and strike scaled by the same ratio.
    as_of : the modelled chain's time, timezone-aware, not before ``snapshot.as_of``.
    reference : what ``underlying_usd`` is, in words, for ``source`` ("the ETH perp close").

    Returns
    -------
    :class:`OptionChain` with ``as_of``, ``modelled=True``, ``source`` = "modelled: <snapshot
    date> Deribit <coin> IV surface recentred on <reference>" and the columns of
    :data:`quant.options.chain.CHAIN_COLUMNS`: ``expiry`` shifted and ``dte_days`` / ``t_years``
    kept; ``strike`` and ``underlying_usd`` × ratio; ``iv`` / ``bid_iv`` / ``ask_iv``, ``rate``,
    ``open_interest`` (the snapshot's, a liquidity proxy) and ``otm`` kept; prices (coin and USD)
    and greeks recomputed with Black-76; ``instrument`` = :data:`MODELLED_PREFIX` + the
    snapshot's name.

    Raises
    ------
    ValueError : ``underlying_usd`` not a positive finite number, ``as_of`` naive or before the
        snapshot, ``snapshot`` already modelled, or no live expiry to anchor the ratio on.
    """
    _validate(snapshot, underlying_usd, as_of)
    as_of = as_of.tz_convert("UTC")
    src = snapshot.quotes
    ratio = float(underlying_usd) / anchor_forward(snapshot)
    expiry = src["expiry"] + (as_of - snapshot.as_of)
    seconds = (expiry - as_of).dt.total_seconds().to_numpy(dtype="float64")
    t = seconds / (SECONDS_PER_DAY * DAYS_PER_YEAR)
    forward = src["underlying_usd"].to_numpy(dtype="float64") * ratio
    strike = src["strike"].to_numpy(dtype="float64") * ratio
    is_call, rate = src["is_call"].to_numpy(dtype=bool), src["rate"].to_numpy(dtype="float64")
    q: dict[str, object] = {
        "instrument": MODELLED_PREFIX + src["instrument"].astype(str), "expiry": expiry, "strike": strike,
        "t_years": t, "dte_days": seconds / SECONDS_PER_DAY, "underlying_usd": forward,
        "otm": np.where(is_call, strike > forward, strike < forward),
    }
    greeks = black76_greeks(forward, strike, t, src["iv"].to_numpy(dtype="float64"), is_call, rate)
    q.update(delta=greeks.delta, gamma=greeks.gamma, vega_usd=greeks.vega, theta_usd=greeks.theta)
    # bid and ask in one call (the pricing kernel's cost is per call, not per option)
    quote_iv = np.stack([src[c].to_numpy(dtype="float64") for _, c in SIDES[1:]])
    with np.errstate(invalid="ignore", divide="ignore"):
        model_coin = np.vstack([greeks.price, gbs_price(forward, strike, t, quote_iv, is_call, rate, 0.0)]) / forward
    coins: dict[str, np.ndarray] = {}
    for i, (side, iv_column) in enumerate(SIDES):
        # Unchanged T and K/F leave a Black-76 coin price unchanged whatever the vol, so a quote
        # without an identified IV (at or below intrinsic) carries over as it is.
        known = np.isfinite(src[iv_column].to_numpy(dtype="float64"))
        coins[side] = np.where(known, model_coin[i], src[f"{side}_coin"].to_numpy(dtype="float64"))
        q[f"{side}_coin"], q[f"{side}_usd"] = coins[side], coins[side] * forward
    q["two_sided"] = np.isfinite(coins["bid"]) & np.isfinite(coins["ask"])
    # Columns not listed above (type, rate, open interest, IVs) are the snapshot's own.
    quotes = src.assign(**q).loc[:, list(CHAIN_COLUMNS)].reset_index(drop=True)
    return OptionChain(
        as_of=as_of, currency=snapshot.currency, quotes=quotes,
        modelled=True, source=modelled_source(snapshot, reference),
    )
