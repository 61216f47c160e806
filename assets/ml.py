"""The ML sleeve as assets: one model per walk-forward fold, and hourly predictions from it.

* ``ml_fold_models`` — partitioned by fold (``resources.partitions.FOLDS``: a UTC week). Its run
  trains the whole ensemble (``quant.ml.models``) on the **stored, audited** hours before the fold
  (features, rule-based regimes, labels from the stored candles), purged and embargoed
  (``quant.ml.folds``), and stores a versioned artifact (``resources.model_store``). A fold with
  too little history stores why and no model. One partition per fold: training adds one
  materialisation per week, not per hour.
* ``model_predictions_1h`` — hourly: the fold's model applied to the hour's features (the sequence
  models read the hours before from ``features_1h``). A trained fold whose artifact is missing or
  corrupt fails the hour loudly; a fold skipped for too little history, or never trained, writes
  rows that say ``no model: …`` (the sleeve holds; the other layers trade on).
* ``ml_fold_evaluation`` — per fold, once its hours are predicted: log loss, AUC, hit rate and
  calibration of the meta-learner and each base model against the always-flat and momentum-sign
  baselines, on the fold's own (out-of-sample) hours, as metadata in the UI and in the manifest.
"""


import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from dagster import (
    AssetDep,
    AssetExecutionContext,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    TimeWindowPartitionMapping,
    asset,
)

from assets.market_data import hourly_asset
from assets.metadata import ByHour, per_hour
from checks.ml import ML_RULES_BY_ASSET
from quant.market_data.tables import HOUR, hours_of
from quant.ml.artifacts import ArtifactError, artifact_record, code_version, dump, sha256
from quant.ml.artifacts import load as load_artifact
from quant.ml.dataset import ML_FEATURES, learning_rows
from quant.ml.folds import walk_forward
from quant.ml.labels import COST_PER_TRADE, forward_labels
from quant.ml.metrics import fold_metrics
from quant.ml.models import FIT_THREADS, SEQUENCE_H, EnsembleConfig, fit
from quant.ml.predictions import STATUS_OK, prediction_rows
from resources import fit_ahead
from resources.model_store import MlModelStore
from resources.partitions import FOLDS, fold_window, partition_hours, window_of
from resources.storage import HourlyParquetIOManager, read_hours, stored_hours

GROUP = "ml"
#: The previous week's hours: the latest a fold learns from (its expanding window reaches back
#: through storage to the first stored hour; Dagster draws the edge, the asset reads storage).
PREVIOUS_WEEK = TimeWindowPartitionMapping(start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True)


class FoldConfig(Config):
    """How a fold trains (recorded in its artifact key). ``scheme``: expanding | rolling (``train_hours``).

    ``price_asset``: the hourly candles the labels are priced from. The sleeve trades spot but the
    bundled data has perpetual candles only, so the default is the perp series as the spot proxy
    (the book fills it as ``perp × (1 − BookParams.spot_basis)``, every fill flagged ``modelled``);
    real spot candles stored as an hourly asset with the same columns drop in by name.
    """

    horizon_h: int = 4
    embargo_h: int | None = None
    scheme: str = "expanding"
    train_hours: int | None = None
    min_train_hours: int = 24 * 14
    cost_per_trade: float = COST_PER_TRADE
    price_asset: str = "perp_ohlcv_1h"
    seed: int = EnsembleConfig.seed
    trees: int = EnsembleConfig.trees
    epochs: int = EnsembleConfig.epochs

    def ensemble(self) -> EnsembleConfig:
        return EnsembleConfig(seed=self.seed, trees=self.trees, epochs=self.epochs, horizon_h=self.horizon_h)


def _stored(root: str, name: str, before: pd.Timestamp) -> pd.DataFrame:
    hours = stored_hours(root, name, None, before)
    return read_hours(root, name, hours) if len(hours) else pd.DataFrame()


@asset(
    partitions_def=FOLDS,
    group_name=GROUP,
    kinds={"xgboost", "lightgbm", "sklearn", "pytorch"},
    deps=[AssetDep(name, partition_mapping=PREVIOUS_WEEK) for name in ("features_1h", "regime_scores_1h", "perp_ohlcv_1h")],
    description="One walk-forward fold's ensemble (XGBoost, LightGBM, random forest, LSTM, Transformer, regime "
                "classifier, stacking meta-learner), trained on the stored hours before the fold, purged and embargoed.",
)
def ml_fold_models(context: AssetExecutionContext, config: FoldConfig, hourly_parquet: ResourceParam[HourlyParquetIOManager],
                   ml_models: MlModelStore) -> MaterializeResult:
    key = context.partition_key
    # a backfill may have fitted this fold in its second process while the hours before ran
    # (``resources.fit_ahead``): its result is used only when asked for the same config and code,
    # and every stored input file of the fold is still the one it read (see ``fold_request``)
    ahead = fit_ahead.take(hourly_parquet.root, key, fold_request(hourly_parquet.root, key, config))
    if ahead is not None:
        record, blob, seconds, base_rate = ahead.record, ahead.blob, ahead.seconds, ahead.base_rate
        ensemble = dataclasses.replace(load_artifact(blob, sha256(blob), f"fold {key} fitted ahead"),
                                       fit_seconds=ahead.fit_seconds)
        train_hours = record["train_hours"]
    else:
        try:
            t = fold_training(hourly_parquet.root, key, config)
        except ValueError as exc:
            raise Failure(description=f"fold {key}: {exc}") from exc
        if t.skip_reason is not None:
            ml_models.save_skipped(t.record, t.skip_reason)
            context.log.warning(f"fold {key}: {t.skip_reason}: no model, no ML orders this week")
            return MaterializeResult(metadata={"status": "skipped", "reason": t.skip_reason, "train_hours": t.train_hours})
        t0 = time.perf_counter()
        ensemble = fit(t.rows, ML_FEATURES, config.ensemble())
        seconds = time.perf_counter() - t0
        record, blob, base_rate, train_hours = t.record, None, float(t.rows["label"].mean()), t.train_hours
    manifest = ml_models.save_trained(record, ensemble, {"fit_wall_seconds": round(seconds, 3),
                                                         "train_base_rate": base_rate}, blob=blob)
    return MaterializeResult(metadata={
        "status": "trained",
        "artifact_key": record["key"],
        "train_window": f"{record['train_start']} .. {record['train_end']}",
        "train_hours": train_hours,
        "train_rows": ensemble.train_rows,
        "code_version": record["code_version"],
        "sha256": manifest["sha256"][:16],
        "fit_seconds": MetadataValue.json(manifest["fit_seconds"]),
        "fit_wall_seconds": round(seconds, 2),
        "fitted_ahead": ahead is not None,
    })


@dataclass(frozen=True)
class FoldTraining:
    """What fold ``key`` learns from the stored hours before it: its rows, its artifact record (the
    model's key) and, when it cannot train, why."""

    rows: pd.DataFrame
    record: dict
    train_hours: int
    skip_reason: str | None


def fold_training(root: str, key: str, config: FoldConfig) -> FoldTraining:
    """The training rows of fold ``key`` from the Parquet store at ``root``: its expanding (or rolling)
    window of stored, audited hours, purged and embargoed. ValueError when the folds cannot be cut."""
    start, end = fold_window(key)
    features = _stored(root, "features_1h", start)
    week = partition_hours(start, end)
    have = pd.DatetimeIndex(features["hour"].unique()) if len(features) else pd.DatetimeIndex([], tz="UTC")
    folds = walk_forward(have.union(week), horizon_h=config.horizon_h, embargo_h=config.embargo_h, scheme=config.scheme,
                         train_hours=config.train_hours, min_train_hours=config.min_train_hours)
    fold = next(f for f in folds if f.name == key)
    rows = pd.DataFrame()
    if fold.trainable:
        rows = learning_rows(features[features["hour"].isin(fold.train_hours)], _stored(root, "regime_scores_1h", start),
                             _stored(root, config.price_asset, start), horizon_h=config.horizon_h,
                             cost_per_trade=config.cost_per_trade)
        rows = rows[rows["label_end"] < start]  # the purge, once more where the rows are cut
    record = artifact_record(key, rows, ML_FEATURES, config.ensemble())
    record.update(price_asset=config.price_asset, scheme=config.scheme, embargo_h=config.embargo_h if config.embargo_h is not None else config.horizon_h,
                  min_train_hours=config.min_train_hours, train_hours=len(fold.train_hours))
    reason = None
    if not fold.trainable or rows.dropna(subset=[*ML_FEATURES, "label"]).empty:
        reason = fold.skip_reason or "no training row has every feature and a label"
    return FoldTraining(rows, record, len(fold.train_hours), reason)


#: The stored assets a fold reads (besides ``FoldConfig.price_asset``).
FOLD_INPUTS = ("features_1h", "regime_scores_1h")


def fold_request(root: str, key: str, config: FoldConfig) -> tuple | None:
    """What fold ``key``'s model is a function of, cheaply: the config, the code version and every
    stored day file before the fold that it reads, each as (asset, day, inode, mtime, size) — every
    write replaces a day file by renaming a new one over it (``resources.storage``), so a file
    rewritten since has another inode and mtime. None for a store that is not a local folder (no
    fitting ahead there)."""
    if "://" in root:
        return None
    first_day = f"{fold_window(key)[0]:%Y-%m-%d}"
    files = []
    for name in (*FOLD_INPUTS, config.price_asset):
        folder = Path(root) / name
        for path in sorted(folder.glob("*.parquet")) if folder.is_dir() else ():
            if path.stem < first_day:
                st = path.stat()
                files.append((name, path.stem, st.st_ino, st.st_mtime_ns, st.st_size))
    return (key, json.dumps(config.model_dump(), sort_keys=True), code_version(), tuple(files))


def fit_fold(root: str, key: str, config: dict, threads: int = FIT_THREADS) -> fit_ahead.Fitted | None:
    """Fold ``key``'s ensemble fitted from the store at ``root`` (``config``: a ``FoldConfig``'s fields;
    ``threads``: models fitted at once, the same ensemble for any count), with the request it answers
    (:func:`fold_request`, taken before and after reading: None if a file changed meanwhile) — what
    the fit-ahead process runs; None when the fold cannot train."""
    cfg = FoldConfig(**config)
    before = fold_request(root, key, cfg)
    t = fold_training(root, key, cfg)
    if t.skip_reason is not None:
        return None
    request = before if fold_request(root, key, cfg) == before else None
    t0 = time.perf_counter()
    ensemble = fit(t.rows, ML_FEATURES, cfg.ensemble(), threads=threads)
    return fit_ahead.Fitted(request, t.record, dump(ensemble), ensemble.fit_seconds, time.perf_counter() - t0,
                            float(t.rows["label"].mean()))


@hourly_asset(ML_RULES_BY_ASSET, group=GROUP, deps=[AssetDep("ml_fold_models")])
def model_predictions_1h(context: AssetExecutionContext, features_1h: pd.DataFrame, perp_ohlcv_1h: pd.DataFrame,
                         ml_models: MlModelStore, hourly_parquet: ResourceParam[HourlyParquetIOManager]) -> pd.DataFrame:
    """The ML sleeve's view of each instrument at the end of every hour: the stacking meta-learner's
    probability that a long spot trade over the horizon beats its costs, the expected net return, the
    base models' probabilities and the regime, with the fold and model version that produced it
    (``quant.ml.predictions``)."""
    start, end = window_of(context)
    hours = hours_of(start, end)
    # the sequence models' earlier hours: those stored (an hour never materialised is a zero row,
    # as in training), so an hour alone reads what the same hour inside a range reads
    earlier = stored_hours(hourly_parquet.root, "features_1h", start - (SEQUENCE_H - 1) * HOUR, start)
    if len(earlier):
        features_1h = pd.concat([read_hours(hourly_parquet.root, "features_1h", earlier), features_1h], ignore_index=True)
    df = window_predictions(features_1h, perp_ohlcv_1h, hours, ml_models, context.log.warning)
    per_hour(context, df, hours, _prediction_meta)
    return df


def window_predictions(features: pd.DataFrame, bars: pd.DataFrame, hours: pd.DatetimeIndex, ml_models: MlModelStore,
                       warn: Callable[[str], object]) -> pd.DataFrame:
    """``model_predictions_1h`` rows of ``hours`` from each fold's stored ensemble (a fold never trained: "no model").

    ``features``: ``features_1h`` rows of the hours and the ``SEQUENCE_H − 1`` before them that
    exist; ``bars``: ``perp_ohlcv_1h`` rows (their ``sigma_1h``). Raises ``Failure`` when a trained
    fold's artifact is missing or corrupt (never a silent "no model").
    """
    start, end = hours[0], hours[-1] + HOUR
    frame = features.merge(bars[["hour", "venue", "symbol", "sigma_1h"]], on=["hour", "venue", "symbol"], how="left")
    parts = []
    for key in FOLDS.get_partition_keys_in_range(_fold_range(start, end)):
        a, b = fold_window(key)
        inside = hours[(hours >= a) & (hours < b)]
        if not ml_models.has_manifest(key):
            # never trained (the weekly run did not happen): the sleeve holds, the other layers trade on
            warn(f"fold {key} was never trained: no ML orders for its hours (materialise ml_fold_models partition {key})")
            ensemble, manifest = None, {"reason": f"fold {key} was never trained", "config": {"horizon_h": 0}}
        else:
            try:
                ensemble, manifest = ml_models.load(key)
            except ArtifactError as exc:  # trained, but its artifact is missing or corrupt: fail loudly
                raise Failure(description=f"model_predictions_1h {inside[0]:%Y-%m-%d %H:00}: {exc}") from exc
        parts.append(prediction_rows(frame[frame["hour"] < b], inside, ensemble=ensemble, fold=key,
                                     model_version=manifest.get("key", ""), horizon_h=int(manifest["config"]["horizon_h"]),
                                     no_model_reason=manifest.get("reason")))
    return pd.concat(parts, ignore_index=True)


def _fold_range(start: pd.Timestamp, end: pd.Timestamp):
    from dagster import PartitionKeyRange

    first = FOLDS.get_partition_key_for_timestamp(start.timestamp())
    last = FOLDS.get_partition_key_for_timestamp((end - pd.Timedelta(hours=1)).timestamp())
    return PartitionKeyRange(first, last)


def _prediction_meta(h: ByHour) -> list[dict[str, MetadataValue]]:
    preds = h.frame
    ok = (preds["status"] == STATUS_OK).to_numpy()
    versions = preds["model_version"].tolist()
    figures = zip(h.count(ok), h.max(preds["probability"], ok), h.count(ok & (preds["expected_return"] > 0).to_numpy()),
                  h.starts, h.rows, strict=True)
    return [{
        "predicted": MetadataValue.int(int(predicted)),
        "best_probability": MetadataValue.float(round(float(best), 4) if predicted else float("nan")),
        "positive_edge": MetadataValue.int(int(edge)),
        "model_version": MetadataValue.text(str(versions[first]) if rows else ""),
    } for predicted, best, edge, first, rows in figures]


@asset(
    partitions_def=FOLDS,
    group_name=GROUP,
    kinds={"pandas"},
    deps=[AssetDep("model_predictions_1h"), AssetDep("ml_fold_models")],
    description="Out-of-sample scores of one fold on its own hours: log loss, AUC, hit rate, Brier, calibration of "
                "the meta-learner and each base model, beside the always-flat and momentum-sign baselines.",
)
def ml_fold_evaluation(context: AssetExecutionContext, hourly_parquet: ResourceParam[HourlyParquetIOManager],
                       ml_models: MlModelStore) -> MaterializeResult:
    key = context.partition_key
    start, end = fold_window(key)
    root = hourly_parquet.root
    manifest = ml_models.manifest(key)
    if manifest.get("status") != "trained":
        return MaterializeResult(metadata={"status": "no model", "reason": str(manifest.get("reason", ""))})
    hours = stored_hours(root, "model_predictions_1h", start, end)
    if not len(hours):
        raise Failure(description=f"fold {key}: no stored predictions of its hours: run the hourly cycle over the week first")
    horizon = int(manifest["config"]["horizon_h"])
    preds = read_hours(root, "model_predictions_1h", hours)
    preds = preds[preds["status"] == STATUS_OK]
    prices = str(manifest.get("price_asset", "perp_ohlcv_1h"))
    bars = read_hours(root, prices, stored_hours(root, prices, start, end + horizon * HOUR))
    feats = read_hours(root, "features_1h", hours)[["hour", "venue", "symbol", "mom_4h"]]
    rows = preds.merge(forward_labels(bars[["hour", "venue", "symbol", "close"]], horizon,
                                      float(manifest["config"].get("cost_per_trade", COST_PER_TRADE)))[
        ["hour", "venue", "symbol", "label", "net_return"]], on=["hour", "venue", "symbol"], how="left")
    rows = rows.merge(feats, on=["hour", "venue", "symbol"], how="left")
    base_rate = manifest.get("train_base_rate")
    scores = {"stack": fold_metrics(rows["label"], rows["probability"], momentum_sign=rows["mom_4h"],
                                    train_base_rate=base_rate)}
    for name in manifest["config"]["models"]:
        scores[name] = fold_metrics(rows["label"], rows[f"p_{name}"], train_base_rate=base_rate)
    stack = scores["stack"]
    summary = {name: {k: _round(sc[k]) for k in ("log_loss", "auc", "hit_rate", "brier", "ece")} for name, sc in scores.items()}
    ml_models.update_manifest(key, evaluation={"rows": stack["n"], "base_rate": _round(stack["base_rate"]),
                                               "models": summary, "baselines": stack["baselines"]})
    flat, mom = stack["baselines"]["always_flat"], stack["baselines"]["momentum_sign"] or {}
    lines = ["| model | log loss | AUC | hit rate | Brier | ECE |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {name} | {v['log_loss']:.4f} | {v['auc']:.3f} | {v['hit_rate']:.3f} | {v['brier']:.4f} | {v['ece']:.3f} |"
              for name, v in summary.items()]
    lines.append(f"| always flat | {flat['log_loss']:.4f} | n/a | {flat['hit_rate']:.3f} | {flat['brier']:.4f} | |")
    if mom:
        lines.append(f"| momentum sign | {mom['log_loss']:.4f} | {mom['auc']:.3f} | {mom['hit_rate']:.3f} | {mom['brier']:.4f} | |")
    return MaterializeResult(metadata={
        "rows": stack["n"],
        "unlabelled_rows": stack["n_dropped"],
        "base_rate": _round(stack["base_rate"]),
        "log_loss": _round(stack["log_loss"]),
        "auc": _round(stack["auc"]),
        "hit_rate": _round(stack["hit_rate"]),
        "ece": _round(stack["ece"]),
        "flat_log_loss": _round(flat["log_loss"]),
        "momentum_auc": _round(mom.get("auc", float("nan"))),
        "scores": MetadataValue.md("\n".join(lines)),
        "model_version": manifest["key"],
    })


def _round(x: float | None) -> float:
    return float("nan") if x is None else round(float(x), 4)


ML_ASSETS = [ml_fold_models, model_predictions_1h, ml_fold_evaluation]
