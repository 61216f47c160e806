"""The journal as text: each entry says what ran, what I saw, and what's next.

Every number goes through :mod:`quant.research.fmt`, so a NaN reads "n/a"; and the verdict printed
is re-derived from the numbers beside it, so "VALIDATED" never sits next to an "n/a".
"""

from __future__ import annotations

from collections.abc import Iterable

from quant.research.entry import Entry, Verdict
from quant.research.evaluation import WindowMetrics, metric_values
from quant.research.fmt import finite, num, pct

HEADER = f"{'window':<11}{'hours':>7}{'trades':>8}{'APR':>10}{'Sharpe':>8}{'max DD':>8}{'skew':>7}{'kurt':>7}"
INDENT = " " * 13


def _params(params: dict | None) -> str:
    if not params:
        return "{}"
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(params.items())) + "}"


def _per_hour(sr: float) -> str:
    return f"{sr:.4f}/h" if finite(sr) else "n/a"


def metrics_row(name: str, m: WindowMetrics) -> str:
    """One table row; NaN metrics read "n/a"."""
    return (f"{name:<11}{m.hours:>7}{m.trades:>8}{pct(m.apr):>10}{num(m.sharpe):>8}"
            f"{pct(m.max_drawdown, False):>8}{num(m.skew):>7}{num(m.kurtosis):>7}")


def shown_verdict(entry: Entry) -> str:
    """The verdict to print: VALIDATED only when every number it stands on is finite."""
    if entry.verdict is Verdict.VALIDATED:
        values = metric_values(entry.seen) if entry.seen is not None else ()
        if entry.reasons or not values or not all(finite(v) for v in values):
            return "REJECTED (inconsistent entry: a metric it stands on is n/a)"
    return entry.verdict.value


def _what_ran(entry: Entry) -> list[str]:
    h = entry.hypothesis
    grid = ", ".join(f"{k} ∈ {{{', '.join(map(str, v))}}}" for k, v in sorted(h.grid.items()))
    sweep = f"sweep of {len(h.configurations())} configurations ({grid}) over {_params(dict(h.params))}"
    configs = sweep if h.is_sweep else f"params {_params(dict(h.params))}"
    lines = [f"What ran:    {h.strategy}, {configs}; code {entry.code_version}"]
    if entry.selected is not None and h.is_sweep:
        lines.append(f"{INDENT}selected (in-sample best) {_params(entry.selected)}")
    if entry.kind == "test":
        lines.append(f"{INDENT}test {h.test} (the one look)")
    else:
        lines.append(f"{INDENT}train {h.train} | validation {h.validation} | test {h.test} (sealed)")
    return lines


def _statistics(entry: Entry) -> list[str]:
    out = []
    if entry.dsr is not None:
        d = entry.dsr
        label = "PSR vs 0" if entry.kind == "test" else "DSR"
        why = f", {d.reason}" if d.reason else ""
        out.append(f"{label} {num(d.dsr)} (SR {_per_hour(d.sr)} vs SR0 {_per_hour(d.sr0)} over {d.n_trials} trial(s){why})")
    if entry.pbo is not None:
        out.append(f"PBO {num(entry.pbo.pbo)} over {entry.pbo.n_splits} splits of {entry.pbo.n_blocks} blocks")
    if entry.regime is not None:
        out.append(f"regime: {entry.regime.describe()}")
    return out


def _what_i_saw(entry: Entry) -> list[str]:
    if entry.verdict is Verdict.REFUSED:
        return ["What I saw:  nothing — the attempt was refused before anything ran"]
    lines = [f"What I saw:  {HEADER}"]
    selected = [t for t in entry.trials if t.params == entry.selected]
    if selected:
        lines.append(INDENT + metrics_row("train", selected[0].train))
    if entry.seen is not None:
        lines.append(INDENT + metrics_row("test" if entry.kind == "test" else "validation", entry.seen))
    lines += [INDENT + s for s in _statistics(entry)]
    return lines


def _whats_next(entry: Entry) -> str:
    h, verdict = entry.hypothesis, shown_verdict(entry)
    if entry.verdict is Verdict.REFUSED:
        return "nothing was evaluated and no trial added; the refusal is on the record"
    if entry.kind == "test":
        return ("held on data nobody had seen: a candidate for paper trading" if verdict == "VALIDATED"
                else "failed on data nobody had seen: the claim is rejected") + "; the test window is sealed"
    if verdict == "VALIDATED":
        return f"one look at the test window {h.test} (Journal.test), then it is sealed"
    return (f"its {entry.trials_added} trial(s) stay counted ({entry.trials_total} in the journal); "
            "a new idea is a new hypothesis with a new id")


def render_entry(entry: Entry) -> str:
    """One entry as text: heading, what ran, what I saw, the verdict and its reasons, what's next."""
    h = entry.hypothesis
    verdict = shown_verdict(entry)
    lines = [f"#{entry.seq} {entry.kind.upper()} {h.id} — {h.claim}  [{entry.recorded_at:%Y-%m-%d %H:%M} UTC]"]
    lines += _what_ran(entry) + _what_i_saw(entry)
    lines.append(f"Verdict:     {verdict}" + (" — " + "; ".join(entry.reasons) if entry.reasons else ""))
    lines.append(f"What's next: {_whats_next(entry)}")
    return "\n".join(lines)


def render_journal(entries: Iterable[Entry]) -> str:
    """Every entry, oldest first, under a line with the journal's trial count."""
    entries = list(entries)
    total = entries[-1].trials_total if entries else 0
    head = f"Journal: {len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {total} trial(s) counted"
    return "\n\n".join([head, *(render_entry(e) for e in entries)])
