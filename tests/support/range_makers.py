"""Small makers for ``tests/pipelines/test_range_pipeline.py``, in a module of light imports: the spawned worker
imports the module a maker is defined in, and the test module's (the synthetic universe, every layer) costs seconds."""

from __future__ import annotations

import os
import time

import pandas as pd


class Count:
    """A maker whose table says which hours it was made of and in which process."""

    def __call__(self, hours: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
        return {"rows": pd.DataFrame({"hour": hours, "pid": os.getpid()})}


class FailOn(Count):
    def __init__(self, bad: pd.Timestamp, *, die: bool = False) -> None:
        self.bad, self.die = bad, die

    def __call__(self, hours: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
        if self.bad in hours:
            if self.die:
                os._exit(7)  # killed, as by the OOM killer: no exception, no message
            raise ArithmeticError(f"bad hour {self.bad:%Y-%m-%d %H:00}")
        return super().__call__(hours)


class Slow(Count):
    def __call__(self, hours: pd.DatetimeIndex) -> dict[str, pd.DataFrame]:
        time.sleep(0.2)
        return super().__call__(hours)
