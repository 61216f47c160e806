"""The ensemble of one fold: five base models, a regime classifier and a stacking meta-learner.

Every model is fitted on the fold's training rows only (``quant.ml.folds``) and is seeded, single-
threaded and deterministic, so refitting a fold reproduces its predictions exactly.

* base models (probability that the hour is a "trade", ``quant.ml.labels``): XGBoost, LightGBM,
  a random forest, an LSTM and a small Transformer encoder. The two sequence models read the last
  :data:`SEQUENCE_H` hours of the same instrument's features (earlier hours missing from the data
  are zero rows: the standardised mean, never a later hour);
* the regime classifier: multinomial logistic regression from the features to the rule-based
  regime label of the same hour (``quant.features.regime``), its class probabilities a meta input;
* the stacking meta-learner: logistic regression on the base models' **out-of-fold** predictions
  and the regime probabilities. The training rows are cut into :data:`INNER_BLOCKS` consecutive
  time blocks; each block after the first is predicted by base models fitted on the blocks before
  it, purged by the label horizon, so the meta-learner never sees a base prediction of a row the
  base model learned from. Final decisions come only from the meta-learner.

Features: standardised with the training rows' mean and standard deviation. Rows with any NaN
feature are dropped (the features are NaN only while their look-back fills), never imputed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

BASE_MODELS = ("xgboost", "lightgbm", "random_forest", "lstm", "transformer")
SEQUENCE_H = 8
INNER_BLOCKS = 4
REGIMES = ("trend", "range", "high_vol", "crash")


@dataclass(frozen=True)
class EnsembleConfig:
    """Hyperparameters of every model of a fold (recorded in the artifact key)."""

    seed: int = 7
    trees: int = 150
    tree_depth: int = 3
    learning_rate: float = 0.05
    hidden: int = 16
    epochs: int = 15
    batch: int = 256
    horizon_h: int = 4
    models: tuple[str, ...] = BASE_MODELS


def _tree(name: str, cfg: EnsembleConfig):
    if name == "xgboost":
        from xgboost import XGBClassifier

        return XGBClassifier(n_estimators=cfg.trees, max_depth=cfg.tree_depth, learning_rate=cfg.learning_rate,
                             subsample=0.8, colsample_bytree=0.8, random_state=cfg.seed, n_jobs=1,
                             tree_method="hist", eval_metric="logloss")
    if name == "lightgbm":
        from lightgbm import LGBMClassifier

        return LGBMClassifier(n_estimators=cfg.trees, max_depth=cfg.tree_depth, num_leaves=2 ** cfg.tree_depth,
                              learning_rate=cfg.learning_rate, subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
                              random_state=cfg.seed, n_jobs=1, deterministic=True, force_row_wise=True, verbose=-1)
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=cfg.trees, max_depth=cfg.tree_depth + 3, min_samples_leaf=20,
                                  random_state=cfg.seed, n_jobs=1)


def _fit_tree(name: str, cfg: EnsembleConfig, x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    if len(np.unique(y)) < 2:  # one class only: the base rate is all a model can say
        rate = float(y.mean()) if len(y) else 0.5
        return lambda x2: np.full(len(x2), rate)
    model = _tree(name, cfg).fit(x, y)
    return lambda x2: model.predict_proba(x2)[:, 1]


def _sequence_net(kind: str, n_features: int, hidden: int):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.kind = kind
            if kind == "lstm":
                self.body = nn.LSTM(n_features, hidden, batch_first=True)
            else:
                self.embed = nn.Linear(n_features, hidden)
                self.pos = nn.Parameter(torch.zeros(1, SEQUENCE_H, hidden))
                layer = nn.TransformerEncoderLayer(hidden, nhead=2, dim_feedforward=2 * hidden, dropout=0.0,
                                                   batch_first=True)
                self.body = nn.TransformerEncoder(layer, num_layers=1, enable_nested_tensor=False)
            self.head = nn.Linear(hidden, 1)

        def forward(self, x):
            if self.kind == "lstm":
                out, _ = self.body(x)
            else:
                out = self.body(self.embed(x) + self.pos)
            return self.head(out[:, -1, :]).squeeze(-1)

    return Net()


def _fit_sequence(kind: str, cfg: EnsembleConfig, x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    net = _sequence_net(kind, x.shape[-1], cfg.hidden)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.float32)
    gen = torch.Generator().manual_seed(cfg.seed)
    net.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(xt), generator=gen)
        for i in range(0, len(xt), cfg.batch):
            idx = order[i:i + cfg.batch]
            opt.zero_grad()
            loss_fn(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()

    def predict(x2: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return torch.sigmoid(net(torch.tensor(x2, dtype=torch.float32))).numpy().astype("float64")

    return predict


def sequences(frame: pd.DataFrame, x: np.ndarray) -> np.ndarray:
    """Each row's last :data:`SEQUENCE_H` hours of its instrument's rows (``frame``: venue, symbol, hour), oldest first.

    A step whose hour is not among the rows is a zero row; nothing after the row's own hour is used.
    """
    out = np.zeros((len(frame), SEQUENCE_H, x.shape[1]))
    pos = {(v, s, h): i for i, (v, s, h) in enumerate(zip(frame["venue"], frame["symbol"], frame["hour"], strict=True))}
    for i, (v, s, h) in enumerate(zip(frame["venue"], frame["symbol"], frame["hour"], strict=True)):
        for k in range(SEQUENCE_H):
            j = pos.get((v, s, h - pd.Timedelta(hours=SEQUENCE_H - 1 - k)))
            if j is not None:
                out[i, k] = x[j]
    return out


@dataclass
class FoldPredictions:
    """What one fold's ensemble says about its test rows."""

    base: dict[str, np.ndarray]
    regime: np.ndarray  # (rows, len(REGIMES)) probabilities
    meta: np.ndarray  # the final probability of "trade"


def fit_predict(train: pd.DataFrame, test: pd.DataFrame, features: list[str], cfg: EnsembleConfig) -> FoldPredictions:
    """Fit every model of ``cfg`` on ``train`` and predict ``test`` (both: venue, symbol, hour, features, label, regime)."""
    from sklearn.linear_model import LogisticRegression

    train = train.dropna(subset=[*features, "label"]).sort_values(["hour", "venue", "symbol"]).reset_index(drop=True)
    test = test.dropna(subset=features).reset_index(drop=True)
    mean, std = train[features].mean(), train[features].std().replace(0.0, 1.0).fillna(1.0)

    def scaled(df: pd.DataFrame) -> np.ndarray:
        return ((df[features] - mean) / std).to_numpy(dtype="float64")

    def fit_base(rows: pd.DataFrame) -> dict[str, Callable[[pd.DataFrame], np.ndarray]]:
        x, y = scaled(rows), rows["label"].to_numpy(dtype="int64")
        fitted = {}
        for name in cfg.models:
            if name in ("lstm", "transformer"):
                f = _fit_sequence(name, cfg, sequences(rows, x), y)
                fitted[name] = lambda df, f=f: f(sequences(df, scaled(df)))
            else:
                f = _fit_tree(name, cfg, x, y)
                fitted[name] = lambda df, f=f: f(scaled(df))
        return fitted

    # out-of-fold base predictions for the meta-learner, block by block in time, purged by the horizon
    hours = train["hour"].drop_duplicates().sort_values().to_numpy()
    edges = [hours[int(i * len(hours) / INNER_BLOCKS)] for i in range(1, INNER_BLOCKS)]
    oof_rows, oof = [], []
    for k, start in enumerate(edges):
        end = edges[k + 1] if k + 1 < len(edges) else None
        before = train[train["hour"] < start - pd.Timedelta(hours=cfg.horizon_h)]
        block = train[(train["hour"] >= start) & ((train["hour"] < end) if end is not None else True)]
        if before["label"].nunique() < 2 or block.empty:
            continue
        models = fit_base(before)
        oof.append(np.column_stack([models[n](block) for n in cfg.models]))
        oof_rows.append(block)
    regime_model = _regime_classifier(train, scaled(train), cfg)
    final = fit_base(train)
    base = {n: final[n](test) for n in cfg.models}
    regime = regime_model(scaled(test))
    if not oof:
        meta = np.mean(np.column_stack(list(base.values())), axis=1)  # no block to stack on: the plain average
        return FoldPredictions(base, regime, meta)
    meta_rows = pd.concat(oof_rows, ignore_index=True)
    meta_x = np.column_stack([np.vstack(oof), regime_model(scaled(meta_rows))])
    meta_y = meta_rows["label"].to_numpy(dtype="int64")
    if len(np.unique(meta_y)) < 2:
        meta = np.full(len(test), float(meta_y.mean()))
    else:
        stack = LogisticRegression(C=1.0, max_iter=1000).fit(meta_x, meta_y)
        meta = stack.predict_proba(np.column_stack([np.column_stack(list(base.values())), regime]))[:, 1]
    return FoldPredictions(base, regime, meta)


def _regime_classifier(train: pd.DataFrame, x: np.ndarray, cfg: EnsembleConfig) -> Callable[[np.ndarray], np.ndarray]:
    """Probabilities of each of :data:`REGIMES` from the features (rows whose regime is unknown are not learned from)."""
    from sklearn.linear_model import LogisticRegression

    known = train["regime"].isin(REGIMES).to_numpy()
    labels = train.loc[known, "regime"].to_numpy()
    if known.sum() == 0 or len(np.unique(labels)) < 2:
        share = np.array([float((labels == r).mean()) if len(labels) else 1.0 / len(REGIMES) for r in REGIMES])
        return lambda x2: np.tile(share, (len(x2), 1))
    model = LogisticRegression(max_iter=1000, random_state=cfg.seed).fit(x[known], labels)
    order = [list(model.classes_).index(r) if r in model.classes_ else None for r in REGIMES]

    def predict(x2: np.ndarray) -> np.ndarray:
        p = model.predict_proba(x2)
        return np.column_stack([p[:, j] if j is not None else np.zeros(len(x2)) for j in order])

    return predict
