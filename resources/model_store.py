"""Where fold models live: beside the hourly Parquet store, under ``<storage root>/ml``.

* ``ml/artifacts/<key>.pkl`` — a fold ensemble (``quant.ml.artifacts``: the key names the data
  window, feature set, hyperparameters and code version);
* ``ml/folds/<fold>.json`` — the fold's manifest: the artifact it uses (key, SHA-256), or why it
  has no model (``skipped``: too little history), with its training time and evaluation;
* ``ml/trials.jsonl`` — an append-only journal of every model ever fitted (one line per model per
  training), the count the deflated Sharpe ratio deflates by. Retraining a fold adds lines; nothing
  ever removes one.

Every file is written to a temp name and renamed over its path (``resources.storage``), so a reader
sees a whole manifest or the previous one. A missing manifest, a missing or corrupt artifact fail
loudly (:class:`quant.ml.artifacts.ArtifactError`), never predict.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from dagster import ConfigurableResource
from upath import UPath

from quant.ml.artifacts import ArtifactError, dump, load, sha256
from quant.ml.models import Ensemble
from resources.storage import _replace_atomically

TRAINED, SKIPPED = "trained", "skipped"


def ml_root(storage_root: str) -> str:
    """The model store's root beside the hourly Parquet store at ``storage_root`` (a folder or URL)."""
    return f"{storage_root.rstrip('/')}/ml"


class MlModelStore(ConfigurableResource):
    """The fold models of the ML sleeve (``root``: a folder or fsspec URL; default ``<storage root>/ml``)."""

    root: str

    def _path(self, *parts: str) -> UPath:
        path = UPath(self.root).joinpath(*parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def save_trained(self, record: dict, ensemble: Ensemble, extra: dict | None = None, blob: bytes | None = None) -> dict:
        """Store the artifact, then the fold's manifest pointing at it, then the trials' lines.

        ``blob``: the ensemble's artifact bytes when they were dumped elsewhere (a fit-ahead process);
        by default ``dump(ensemble)``."""
        blob = dump(ensemble) if blob is None else blob
        _replace_atomically(self._path("artifacts", f"{record['key']}.pkl"), blob)
        manifest = {**record, "status": TRAINED, "sha256": sha256(blob), "bytes": len(blob),
                    "trained_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "fit_seconds": {k: round(v, 4) for k, v in ensemble.fit_seconds.items()}, **(extra or {})}
        self._write_manifest(record["fold"], manifest)
        models = [*ensemble.cfg.models, "regime", "stack"]
        lines = "".join(json.dumps({"key": record["key"], "fold": record["fold"], "model": m,
                                    "config": record["config"], "code_version": record["code_version"],
                                    "trained_at": manifest["trained_at"]}, sort_keys=True) + "\n" for m in models)
        trials = self._path("trials.jsonl")
        with trials.open("a") as fh:
            fh.write(lines)
        return manifest

    def save_skipped(self, record: dict, reason: str) -> dict:
        manifest = {**record, "status": SKIPPED, "reason": reason}
        self._write_manifest(record["fold"], manifest)
        return manifest

    def update_manifest(self, fold: str, **fields: object) -> dict:
        manifest = {**self.manifest(fold), **fields}
        self._write_manifest(fold, manifest)
        return manifest

    def _manifest_path(self, fold: str) -> UPath:
        return UPath(self.root) / "folds" / f"{fold}.json"

    def _write_manifest(self, fold: str, manifest: dict) -> None:
        path = self._manifest_path(fold)
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_atomically(path, json.dumps(manifest, indent=1, sort_keys=True).encode())

    def manifest(self, fold: str) -> dict:
        """The fold's manifest; ArtifactError if the fold was never trained or its manifest is unreadable."""
        path = self._manifest_path(fold)
        if not path.exists():
            raise ArtifactError(f"fold {fold} has no model: materialise ml_fold_models partition {fold} first "
                                f"(perpetua backfill trains the folds a window needs)")
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ArtifactError(f"fold {fold}: its manifest {path} cannot be read ({exc})") from exc

    def has_manifest(self, fold: str) -> bool:
        return self._manifest_path(fold).exists()

    def load(self, fold: str) -> tuple[Ensemble | None, dict]:
        """The fold's ensemble (None where the fold was skipped) and its manifest."""
        manifest = self.manifest(fold)
        if manifest.get("status") == SKIPPED:
            return None, manifest
        path = UPath(self.root) / "artifacts" / f"{manifest['key']}.pkl"
        blob = path.read_bytes() if path.exists() else None
        return load(blob, manifest["sha256"], f"fold {fold} ({path})"), manifest

    def manifests(self) -> dict[str, dict]:
        """Every fold's manifest by fold key, sorted (an unreadable one raises, naming it)."""
        folder = UPath(self.root) / "folds"
        keys = sorted(p.name[: -len(".json")] for p in folder.glob("*.json")) if folder.exists() else []
        return {k: self.manifest(k) for k in keys}

    def trials(self) -> list[dict]:
        """Every model ever fitted, in the order they were."""
        path = UPath(self.root) / "trials.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
