"""great-expectations 1.x used directly: validate a frame, get back the violating rows.

One ephemeral context per process (creating it is cheap, importing GE is not). Each expectation's
``unexpected_index_list`` maps back to rows of the frame, so a failure names the exact hour,
venue and symbol; a table-level expectation that fails (wrong columns) fails every row's hour.
"""

from __future__ import annotations

import functools
import logging
from typing import Any

import pandas as pd

from quant.quality import VIOLATION_COLUMNS, no_violations

logging.getLogger("great_expectations").setLevel(logging.ERROR)
#: Expectation ``meta`` key naming the Perpetua rule an expectation belongs to.
RULE_META = "perpetua_rule"


@functools.lru_cache(maxsize=1)
def _batch_definition() -> Any:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    try:  # GE prints tqdm progress bars per validation unless told not to
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
    except (ImportError, AttributeError):  # pragma: no cover - older GE layouts
        pass
    source = context.data_sources.add_pandas("perpetua")
    return source.add_dataframe_asset("frame").add_batch_definition_whole_dataframe("whole")


def gx_expectations() -> Any:
    """The ``great_expectations.expectations`` module (imported lazily: it is slow to import)."""
    import great_expectations as gx

    return gx.expectations


def violations(df: pd.DataFrame, expectations: list[Any], describe: str) -> pd.DataFrame:
    """Rows of ``df`` that break any of ``expectations``, as a violation frame.

    Parameters
    ----------
    df : frame with ``hour, venue, symbol`` columns.
    expectations : great-expectations Expectation objects.
    describe : sentence naming the rule, used in each violation's detail.
    """
    return violations_by_rule(df, {describe: (list(expectations), describe)})[describe]


def violations_by_rule(df: pd.DataFrame, rules: dict[str, tuple[list[Any], str]]) -> dict[str, pd.DataFrame]:
    """Validate every rule's expectations in ONE great-expectations run; violations per rule.

    ``rules`` maps a rule name to (expectations, description). One suite per asset keeps the
    per-hour cost of the checks to a single validation.
    """
    out = {name: no_violations() for name in rules}
    if df.empty or not rules:
        return out
    frame = df.reset_index(drop=True)
    import great_expectations as gx

    expectations = []
    for name, (exps, _) in rules.items():
        for exp in exps:
            exp.meta = {**(exp.meta or {}), RULE_META: name}
            expectations.append(exp)
    suite = gx.ExpectationSuite(name="perpetua_rules", expectations=expectations)
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    found: dict[str, list[pd.DataFrame]] = {name: [] for name in rules}
    for res in result.results:
        if res.success:
            continue
        owner = (res.expectation_config.meta or {}).get(RULE_META)
        if owner not in found:
            raise LookupError(f"great-expectations returned a result for an unknown rule: {res.expectation_config.type}")
        found[owner].append(_rows(frame, res, rules[owner][1]))
    for name, parts in found.items():
        if parts:
            out[name] = pd.concat(parts, ignore_index=True)[VIOLATION_COLUMNS].astype(
                {"venue": "str", "symbol": "str", "detail": "str"}
            )
    return out


def _rows(frame: pd.DataFrame, res: Any, describe: str) -> pd.DataFrame:
    conf = res.expectation_config
    label = f"{describe} ({conf.type} {_kwargs(conf.kwargs)})"
    idx = res.result.get("unexpected_index_list")
    if idx:
        rows = frame.loc[[i if isinstance(i, int) else i.get("index", i) for i in idx]]
        values = res.result.get("unexpected_list") or [None] * len(rows)
        details = [f"{label}: observed {v}" for v in values]
    else:  # table-level: the whole frame fails
        rows = frame.drop_duplicates(["hour", "venue", "symbol"])
        details = [f"{label}: observed {res.result.get('observed_value')}"] * len(rows)
    part = rows[["hour", "venue", "symbol"]].reset_index(drop=True).copy()
    part["detail"] = details
    return part


def _kwargs(kwargs: dict) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("batch_id", "result_format")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())
