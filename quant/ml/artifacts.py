"""Model artifacts: what a fold's ensemble is keyed by, and its bytes, verified on every load.

The **artifact key** names everything a model depends on: the fold, the training window (first
and last training hour, the number of rows and a hash of their content), the feature set, the
hyperparameters (``EnsembleConfig``) and the code version (a hash of the source of ``quant.ml``
and ``quant.features``, the code that computes the features and fits the models). Two trainings
that agree on all of it produce the same key — and, the models being deterministic, the same
predictions; change any of it and the key changes, so a stored model is never silently reused
for other data, settings or code.

The bytes are a pickle of :class:`quant.ml.models.Ensemble` (local files this system wrote; never
load one from elsewhere) and their SHA-256 is recorded beside them: a truncated, altered or
missing artifact fails :func:`load` loudly, never predicts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import pickle
from functools import lru_cache
from pathlib import Path

import pandas as pd

from quant.ml.models import Ensemble, EnsembleConfig

#: The packages whose source is the code version of a model.
CODE_PACKAGES = ("ml", "features")


class ArtifactError(RuntimeError):
    """A model artifact that cannot be used: missing, corrupt, or not the model it claims to be."""


@lru_cache(maxsize=1)
def code_version() -> str:
    """A hash of the source files of :data:`CODE_PACKAGES` (12 hex digits)."""
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for package in CODE_PACKAGES:
        for path in sorted((root / package).glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def data_hash(rows: pd.DataFrame) -> str:
    """A content hash of training rows (order-independent within the sorted keys)."""
    ordered = rows.sort_values(["hour", "venue", "symbol"], kind="stable").reset_index(drop=True)
    return hashlib.sha256(pd.util.hash_pandas_object(ordered, index=False).to_numpy().tobytes()).hexdigest()[:16]


def artifact_record(fold: str, train: pd.DataFrame, features: list[str], cfg: EnsembleConfig) -> dict:
    """What the model of ``fold`` trained on ``train`` depends on, and its key (``record["key"]``)."""
    record = {
        "fold": fold,
        "train_start": f"{train['hour'].min():%Y-%m-%dT%H:00Z}" if len(train) else None,
        "train_end": f"{train['hour'].max():%Y-%m-%dT%H:00Z}" if len(train) else None,
        "train_rows": len(train),
        "data_hash": data_hash(train) if len(train) else None,
        "features": list(features),
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()},
        "code_version": code_version(),
    }
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:12]
    record["key"] = f"{fold}-{digest}"
    return record


def dump(ensemble: Ensemble) -> bytes:
    """The artifact's bytes (fitting times are not part of the model: refitting gives the same bytes)."""
    return pickle.dumps(dataclasses.replace(ensemble, fit_seconds={}), protocol=5)


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def load(blob: bytes | None, expected_sha256: str, where: str) -> Ensemble:
    """The ensemble in ``blob``, after checking it is the one recorded (``where`` names it in errors)."""
    if blob is None:
        raise ArtifactError(f"{where}: the model artifact is missing")
    got = sha256(blob)
    if got != expected_sha256:
        raise ArtifactError(f"{where}: the model artifact is corrupt (SHA-256 {got[:12]}…, recorded "
                            f"{expected_sha256[:12]}…); retrain the fold")
    try:
        model = pickle.loads(blob)  # noqa: S301 - a local artifact whose hash this system recorded
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a corrupt artifact
        raise ArtifactError(f"{where}: the model artifact cannot be read ({type(exc).__name__}: {exc})") from exc
    if not isinstance(model, Ensemble):
        raise ArtifactError(f"{where}: the artifact holds a {type(model).__name__}, not a fold ensemble")
    return model
