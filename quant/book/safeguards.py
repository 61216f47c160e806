"""Hard safeguards on order intents: every money cap is a percentage of the bankroll.

Applied as a pure function to the intents of an hour (a blocking asset check) and again inside
the order step itself, right before anything is sent. Intents are screened in their given order
and each one is judged against what was already accepted, so no sequence can breach a cap:

* a single position ≤ ``max_position_pct`` of bankroll (a hedged carry unit counts once: its
  hedge legs, e.g. the spot leg of a short-perp/long-spot pair, add no exposure of their own);
* everything deployed ≤ ``max_total_pct``; the L2 ladder ≤ ``max_ladder_pct``;
* no position smaller than ``min_position_pct``; at most ``max_positions`` open at once;
* client order ids are unique (a re-run hour cannot send an order twice);
* reduce-only intents always pass the caps (closing risk is never blocked).

Live submission additionally needs two switches: ``enable_live_orders`` and the layer's own flag,
checked at submit time (:func:`live_submission_allowed`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

MAX_POSITION_PCT = 0.25
MAX_TOTAL_PCT = 0.50
MAX_LADDER_PCT = 0.20
MIN_POSITION_PCT = 0.01
MAX_POSITIONS = 10
LADDER_LAYER = "L2"
HEDGE_LEGS = frozenset({"spot"})


@dataclass(frozen=True)
class RiskLimits:
    """Caps as fractions of ``bankroll_usd``; bumping the bankroll is the only change to grow."""

    bankroll_usd: float
    max_position_pct: float = MAX_POSITION_PCT
    max_total_pct: float = MAX_TOTAL_PCT
    max_ladder_pct: float = MAX_LADDER_PCT
    min_position_pct: float = MIN_POSITION_PCT
    max_positions: int = MAX_POSITIONS
    enable_live_orders: bool = False
    live_layers: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.bankroll_usd) and self.bankroll_usd > 0):
            raise ValueError(f"bankroll_usd must be a positive amount, got {self.bankroll_usd}")
        for name in ("max_position_pct", "max_total_pct", "max_ladder_pct", "min_position_pct"):
            value = getattr(self, name)
            if not 0 <= value <= 1:
                raise ValueError(f"{name} must be a fraction in [0, 1], got {value}")

    def usd(self, pct: float) -> float:
        return self.bankroll_usd * pct


@dataclass(frozen=True)
class Candidate:
    """What the screen needs of one intent (plain values for speed)."""

    client_order_id: str
    layer: str
    symbol: str
    leg: str
    notional_usd: float
    reduce_only: bool = False


@dataclass
class Book:
    """Open exposure by position (``layer:symbol``), USD, and the ids already used."""

    exposure: dict[str, float] = field(default_factory=dict)
    used_ids: set[str] = field(default_factory=set)

    def total(self) -> float:
        return sum(self.exposure.values())

    def layer_total(self, layer: str) -> float:
        return sum(v for k, v in self.exposure.items() if k.startswith(f"{layer}:"))


class _Totals:
    """``book.total()`` and its L2 ladder total, each summed once while the book does not change (the same sums)."""

    __slots__ = ("_book", "_ladder", "_total")

    def __init__(self, book: Book) -> None:
        self._book = book
        self.reset()

    def reset(self) -> None:
        self._total: float | None = None
        self._ladder: float | None = None

    def total(self) -> float:
        if self._total is None:
            self._total = self._book.total()
        return self._total

    def ladder(self) -> float:
        if self._ladder is None:
            self._ladder = self._book.layer_total(LADDER_LAYER)
        return self._ladder


def _cap_breach(c: Candidate, book: Book, limits: RiskLimits, totals: _Totals) -> str | None:
    """The first cap ``c`` would breach (in this order), None when it fits; each cap is only looked at
    (and its sentence only written) when every cap before it holds."""
    key = f"{c.layer}:{c.symbol}"
    held = book.exposure.get(key, 0.0)
    eps = 1e-9 * limits.bankroll_usd
    if c.notional_usd < limits.usd(limits.min_position_pct) - eps:
        return f"below the minimum position {limits.min_position_pct:.0%} of bankroll"
    if held + c.notional_usd > limits.usd(limits.max_position_pct) + eps:
        return f"position would exceed {limits.max_position_pct:.0%} of bankroll"
    if totals.total() + c.notional_usd > limits.usd(limits.max_total_pct) + eps:
        return f"total deployed would exceed {limits.max_total_pct:.0%} of bankroll"
    if c.layer == LADDER_LAYER and totals.ladder() + c.notional_usd > limits.usd(limits.max_ladder_pct) + eps:
        return f"L2 ladder would exceed {limits.max_ladder_pct:.0%} of bankroll"
    if held == 0.0 and len(book.exposure) >= limits.max_positions:
        return f"already {limits.max_positions} positions open"
    return None


def screen(candidates: Iterable[Candidate], book: Book, limits: RiskLimits, known_symbols: set[str]) -> list[str | None]:
    """Judge each candidate in order; returns None (approved) or the reason it was rejected.

    ``book`` is updated in place with what was approved.
    """
    verdicts: list[str | None] = []
    approved_positions: set[str] = set()
    totals = _Totals(book)
    for c in candidates:
        key = f"{c.layer}:{c.symbol}"
        reason = None
        if c.client_order_id in book.used_ids:
            reason = "duplicate client order id"
        elif c.symbol not in known_symbols:
            reason = f"unknown symbol {c.symbol}"
        elif not (math.isfinite(c.notional_usd) and c.notional_usd > 0):
            reason = f"notional must be a positive amount, got {c.notional_usd}"
        elif c.reduce_only:
            reason = None
        elif c.leg in HEDGE_LEGS:
            if key not in approved_positions and key not in book.exposure:
                reason = "hedge leg without its position"
        else:
            reason = _cap_breach(c, book, limits, totals)
            if reason is None:
                book.exposure[key] = book.exposure.get(key, 0.0) + c.notional_usd
                approved_positions.add(key)
                totals.reset()
        if reason is None:
            book.used_ids.add(c.client_order_id)
        verdicts.append(reason)
    return verdicts


def screen_intents(
    intents: pd.DataFrame, reference_price: pd.Series, book: Book, limits: RiskLimits, known_symbols: set[str]
) -> pd.DataFrame:
    """Screen an intents table; adds ``notional_usd``, ``approved`` and ``rejection``.

    ``reference_price`` is indexed by symbol (the last close); a limit order is valued at its
    limit, a market order at the reference price. A missing price is a rejection, not a zero.
    """
    ref = intents["symbol"].map(reference_price).astype("float64")
    price = intents["limit"].where(intents["limit"].notna(), ref)
    out = intents.copy()
    out["notional_usd"] = intents["qty"].astype("float64") * price
    reduce = out["reduce_only"] if "reduce_only" in out else pd.Series(False, index=out.index)
    cands = [
        Candidate(r.client_order_id, r.layer, r.symbol, r.leg, r.notional_usd, bool(ro))
        for r, ro in zip(out.itertuples(index=False), reduce, strict=True)
    ]
    verdicts = screen(cands, book, limits, known_symbols)
    out["approved"] = [v is None for v in verdicts]
    out["rejection"] = [v or "" for v in verdicts]
    return out


def live_submission_allowed(limits: RiskLimits, layer: str) -> bool:
    """True only when live orders are enabled globally AND for this layer (checked at submit time)."""
    return bool(limits.enable_live_orders) and layer in limits.live_layers
