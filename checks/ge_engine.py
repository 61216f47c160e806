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
    if df.empty:
        return no_violations()
    frame = df.reset_index(drop=True)
    import great_expectations as gx

    suite = gx.ExpectationSuite(name="perpetua_rule", expectations=list(expectations))
    batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format={"result_format": "COMPLETE"})
    parts = []
    for res in result.results:
        if res.success:
            continue
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
        parts.append(part)
    if not parts:
        return no_violations()
    return pd.concat(parts, ignore_index=True)[VIOLATION_COLUMNS].astype({"venue": "str", "symbol": "str", "detail": "str"})


def _kwargs(kwargs: dict) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("batch_id", "result_format")}
    return ", ".join(f"{k}={v}" for k, v in shown.items())
