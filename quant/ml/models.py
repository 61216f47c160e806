"""The ensemble of one fold: five base models, a regime classifier and a stacking meta-learner.

Every model is fitted on the fold's training rows only (``quant.ml.folds``) and is seeded, single-
threaded and deterministic, so refitting a fold reproduces its predictions exactly. The models of a
fold are independent of each other, so :func:`fit` runs them side by side on :data:`FIT_THREADS`
threads (each still on one thread of its own, the forest on :data:`FOREST_FIT_THREADS`): the same
models, bit for bit, sooner.

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

import dataclasses
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from quant.ml.lanes import side_by_side

BASE_MODELS = ("xgboost", "lightgbm", "random_forest", "lstm", "transformer")
SEQUENCE_MODELS = ("lstm", "transformer")
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
    epochs: int = 10
    batch: int = 512
    horizon_h: int = 4
    models: tuple[str, ...] = BASE_MODELS
    #: The sequence nets learn from the most recent this many rows of a fit (a rolling window inside
    #: an expanding one: their cost grows with every row, the trees' barely).
    sequence_rows: int = 4000
    #: Rows each random-forest tree draws (bootstrap), at most.
    forest_samples: int = 4000


#: Threads that grow a random forest's trees (the forest was 42% of a fold's fitting on one thread).
FOREST_FIT_THREADS = 2
#: Threads a fold's models are fitted on side by side (one model per thread, the sequence nets one
#: after the other on one of them); any count gives the same models. The machine has 2 cores.
FIT_THREADS = 2


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
                                  max_samples=cfg.forest_samples, random_state=cfg.seed, n_jobs=1)


def _fit_tree(name: str, cfg: EnsembleConfig, x: np.ndarray, y: np.ndarray):
    """A fitted classifier, or the base rate (a float) where the rows hold one class only."""
    if len(np.unique(y)) < 2:  # one class only: the base rate is all a model can say
        return float(y.mean()) if len(y) else 0.5
    if name == "random_forest" and len(y) <= cfg.forest_samples:
        cfg = dataclasses.replace(cfg, forest_samples=None)  # sklearn refuses max_samples above the rows
    model = _tree(name, cfg)
    if name == "random_forest":
        # Each tree is grown from its own seed, drawn before the trees are built, so threads grow the
        # same trees in the same order (the pickled forest is byte-identical); predictions stay serial.
        model.set_params(n_jobs=FOREST_FIT_THREADS)
        return model.fit(x, y).set_params(n_jobs=1)
    return model.fit(x, y)


def _tree_proba(model, x: np.ndarray) -> np.ndarray:
    if isinstance(model, float):
        return np.full(len(x), model)
    if hasattr(model, "estimators_") and hasattr(model, "n_outputs_") and model.n_outputs_ == 1:
        return _forest_proba(model, x)[:, 1]
    return model.predict_proba(x)[:, 1]


def _forest_proba(forest, x: np.ndarray) -> np.ndarray:
    """``RandomForestClassifier.predict_proba`` without its per-tree thread dispatch (~0.2 ms a tree,
    150 trees: most of an hour's inference). The same arithmetic in the same order — each tree's
    probabilities on float32 inputs, summed tree by tree, divided by the count — so the result is
    bit-identical (tested)."""
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    total = np.zeros((len(x32), forest.n_classes_), dtype=np.float64)
    for tree in forest.estimators_:
        total += tree.predict_proba(x32, check_input=False)
    total /= len(forest.estimators_)
    return total


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


@dataclass
class SequenceModel:
    """A trained LSTM/Transformer as plain arrays (its weights), rebuilt into a torch module to predict.

    Stored as arrays, not as a pickled torch module, so an artifact does not depend on torch's
    pickling of a class defined at run time.
    """

    kind: str
    n_features: int
    hidden: int
    weights: dict[str, np.ndarray]

    def __getstate__(self) -> dict:  # the rebuilt torch module is a cache, never part of the artifact
        return {k: v for k, v in self.__dict__.items() if k != "_net"}

    def predict(self, x: np.ndarray) -> np.ndarray:
        import torch

        # the same settings as the fit, whatever this process did before: with torch's default
        # threads a process that never fitted predicted 3e-8 away (float32 sums in another order)
        _torch_deterministic()
        net = self.__dict__.get("_net")
        if net is None:  # rebuilt once per loaded model, not once per hour
            net = _sequence_net(self.kind, self.n_features, self.hidden)
            net.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in self.weights.items()})
            net.eval()
            self.__dict__["_net"] = net
        # in batches of PREDICT_BATCH rows, the last padded with zeros: a row's probability then does
        # not depend on which rows share its batch (an hour alone = the hour in a week's range; in
        # one batch of any size the transformer's float32 sums moved by up to 6e-8)
        out = []
        with torch.no_grad():
            for i in range(0, len(x), PREDICT_BATCH):
                part = x[i:i + PREDICT_BATCH]
                n = len(part)
                if n < PREDICT_BATCH:
                    part = np.concatenate([part, np.zeros((PREDICT_BATCH - n, *part.shape[1:]), dtype=part.dtype)])
                out.append(torch.sigmoid(net(torch.tensor(part, dtype=torch.float32))).numpy()[:n])
        return np.concatenate(out).astype("float64") if out else np.empty(0, dtype="float64")


#: Rows per forward pass of a net's prediction (fixed, so a row's result does not depend on its neighbours).
PREDICT_BATCH = 64


def _torch_deterministic() -> None:
    """One intra-op thread and deterministic kernels for every net (process-wide settings of torch)."""
    import torch
    import torch.utils.deterministic

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    # Deterministic mode also fills every new tensor with NaN before an op writes it (the LSTM's
    # training ~13% longer); the ops here write their outputs whole, so no fill is read (same models).
    torch.utils.deterministic.fill_uninitialized_memory = False


def _fit_sequence(kind: str, cfg: EnsembleConfig, x: np.ndarray, y: np.ndarray) -> SequenceModel:
    import torch

    _torch_deterministic()
    torch.manual_seed(cfg.seed)
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
    return SequenceModel(kind, int(x.shape[-1]), cfg.hidden,
                         {k: v.detach().numpy().copy() for k, v in net.state_dict().items()})


def sequences(frame: pd.DataFrame, x: np.ndarray, at: np.ndarray | slice | None = None) -> np.ndarray:
    """Each row's last :data:`SEQUENCE_H` hours of its instrument's rows (``frame``: venue, symbol, hour), oldest first.

    ``at`` (a boolean mask, positions or a slice of the rows; None: every row): the rows whose
    sequences are built, in that order — the same sequences as ``sequences(frame, x)[at]``, without
    building the others. A step whose hour is not among the rows of ``frame`` is a zero row; nothing
    after the row's own hour is used. Rows must be unique per (venue, symbol, hour).
    """
    rows = np.arange(len(frame)) if at is None else np.arange(len(frame))[at]
    out = np.zeros((len(rows), SEQUENCE_H, x.shape[1]))
    if not len(frame):
        return out
    instrument = pd.factorize(frame["venue"].astype(str) + "\x1f" + frame["symbol"].astype(str))[0].astype("int64")
    hour = pd.DatetimeIndex(frame["hour"]).as_unit("s").asi8 // 3600
    span = int(hour.max() - hour.min()) + SEQUENCE_H + 1
    key = instrument * span + (hour - hour.min() + SEQUENCE_H)
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    if (np.diff(ordered) == 0).any():
        raise ValueError("sequences need one row per (venue, symbol, hour)")
    for k in range(SEQUENCE_H):
        want = key[rows] - (SEQUENCE_H - 1 - k)
        pos = np.clip(np.searchsorted(ordered, want), 0, len(ordered) - 1)
        found = ordered[pos] == want
        out[found, k] = x[order[pos[found]]]
    return out


@dataclass
class FoldPredictions:
    """What one fold's ensemble says about its rows (``rows``: venue, symbol, hour of each prediction)."""

    base: dict[str, np.ndarray]
    regime: np.ndarray  # (rows, len(REGIMES)) probabilities
    meta: np.ndarray  # the final probability of "trade"
    rows: pd.DataFrame | None = None


@dataclass
class Ensemble:
    """Every fitted model of one fold, picklable: what a model artifact stores.

    ``stack`` is the meta-learner (None: no out-of-fold block to stack on, the base models'
    plain average decides; a float: the meta rows held one class, its rate). ``net_if_trade`` and
    ``net_if_not`` are the mean net returns of the training rows of each class (``expected_return``
    of ``quant.ml.predictions``).
    """

    features: list[str]
    cfg: EnsembleConfig
    mean: np.ndarray
    std: np.ndarray
    base: dict[str, object]
    regime: object
    stack: object
    train_rows: int
    net_if_trade: float = float("nan")
    net_if_not: float = float("nan")
    #: Seconds spent fitting each model (base models over every inner block and the final fit; with
    #: ``fit(threads > 1)``, each on its thread while others run beside it).
    fit_seconds: dict[str, float] = field(default_factory=dict)

    def scaled(self, df: pd.DataFrame) -> np.ndarray:
        return (df[self.features].to_numpy(dtype="float64") - self.mean) / self.std


def _inner_blocks(train: pd.DataFrame, cfg: EnsembleConfig) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """The out-of-fold blocks of ``train`` (rows in time order), as row masks: (the rows before the block,
    purged by the horizon, that its base models learn from; the block; the rows its sequences may read)."""
    hour = train["hour"]
    hours = hour.drop_duplicates().sort_values().to_numpy()
    edges = [hours[int(i * len(hours) / INNER_BLOCKS)] for i in range(1, INNER_BLOCKS)]
    label = train["label"].to_numpy()
    out = []
    for k, start in enumerate(edges):
        end = edges[k + 1] if k + 1 < len(edges) else None
        before = (hour < start - pd.Timedelta(hours=cfg.horizon_h)).to_numpy()
        context = np.ones(len(train), dtype=bool) if end is None else (hour < end).to_numpy()
        block = (hour >= start).to_numpy() & context
        if len(np.unique(label[before])) >= 2 and block.any():
            out.append((before, block, context))
    return out


def _base_jobs(fits: dict[object, pd.DataFrame], scaled: Callable[[pd.DataFrame], np.ndarray],
               cfg: EnsembleConfig) -> dict[tuple[object, str], Callable[[], object]]:
    """One job per (fit, base model): fit the model on the rows ``fits[fit]`` (the longest first: the
    largest fits, the forest before the other trees)."""
    jobs: dict[tuple[object, str], Callable[[], object]] = {}
    for key, rows in sorted(fits.items(), key=lambda kv: -len(kv[1])):
        x, y = scaled(rows), rows["label"].to_numpy(dtype="int64")
        recent = slice(max(0, len(rows) - cfg.sequence_rows), None)  # rows are in time order: the most recent
        # built once for both nets, by the first of them to run (the nets run one after another)
        seq = functools.cache(functools.partial(sequences, rows, x, recent))
        for name in sorted(cfg.models, key=lambda n: n != "random_forest"):
            if name in SEQUENCE_MODELS:
                jobs[key, name] = functools.partial(lambda n, s, t: _fit_sequence(n, cfg, s(), t), name, seq, y[recent])
            else:
                jobs[key, name] = functools.partial(_fit_tree, name, cfg, x, y)
    return jobs


def _predict_base(models: dict[str, object], rows: pd.DataFrame, x: np.ndarray, pick: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Each base model's probability for ``rows`` (or the rows ``pick`` selects; sequences read all ``rows``)."""
    out = {}
    seq = None
    for name, model in models.items():
        if isinstance(model, SequenceModel):
            if seq is None:  # built once for both sequence models
                seq = sequences(rows, x, pick)
            out[name] = model.predict(seq)
        else:
            out[name] = _tree_proba(model, x if pick is None else x[pick])
    return out


def fit(train: pd.DataFrame, features: list[str], cfg: EnsembleConfig, threads: int = FIT_THREADS) -> Ensemble:
    """Fit every model of ``cfg`` on ``train`` (venue, symbol, hour, features, label, regime; optional net_return).

    ``threads``: how many models are fitted at once (:data:`FIT_THREADS`; 1: one after another).
    Every count gives the same ensemble, byte for byte.
    """
    from threadpoolctl import threadpool_limits

    # BLAS on one thread: two OpenBLAS threads on the logistic regressions' small products spin
    # against each other and the models beside them (regime classifier 0.35 s -> 2.3 s), same numbers
    with threadpool_limits(1, user_api="blas"):
        return _fit(train, features, cfg, threads)


def _fit(train: pd.DataFrame, features: list[str], cfg: EnsembleConfig, threads: int) -> Ensemble:
    from sklearn.linear_model import LogisticRegression

    train = train.dropna(subset=[*features, "label"]).sort_values(["hour", "venue", "symbol"]).reset_index(drop=True)
    if train.empty:
        raise ValueError("no training row has every feature and a label")
    mean = train[features].mean().to_numpy(dtype="float64")
    std = train[features].std().replace(0.0, 1.0).fillna(1.0).to_numpy(dtype="float64")

    def scaled(df: pd.DataFrame) -> np.ndarray:
        # each model is handed what this returns for its own rows, never rows cut from a larger
        # array: a cut has another memory layout, and BLAS sums a product of another layout in
        # another order (the regime probabilities moved by up to 8e-16, the stack with them)
        return (df[features].to_numpy(dtype="float64") - mean) / std

    # out-of-fold base predictions for the meta-learner, block by block in time, purged by the horizon
    blocks = _inner_blocks(train, cfg)
    fits: dict[object, pd.DataFrame] = {k: train[before] for k, (before, _, _) in enumerate(blocks)}
    fits["final"] = train
    jobs: dict[object, Callable[[], object]] = dict(_base_jobs(fits, scaled, cfg))
    jobs["regime"] = functools.partial(_regime_classifier, train, scaled(train), cfg)
    nets = [key for key in jobs if isinstance(key, tuple) and key[1] in SEQUENCE_MODELS]  # torch's RNG is global
    done = side_by_side(jobs, nets, threads)
    seconds = {name: 0.0 for name in cfg.models}
    for key, (_, took) in done.items():
        name = key[1] if isinstance(key, tuple) else key
        seconds[name] = seconds.get(name, 0.0) + took
    regime = done["regime"][0]
    oof = []
    for k, (_, block, context) in enumerate(blocks):
        # a block's sequences may read the hours before it (all before the row itself)
        rows = train[context]
        got = _predict_base({n: done[k, n][0] for n in cfg.models}, rows, scaled(rows), block[context])
        oof.append(np.column_stack([got[n] for n in cfg.models]))
    t0 = time.perf_counter()
    stack: object = None
    if oof:
        meta_rows = pd.concat([train[block] for _, block, _ in blocks], ignore_index=True)
        meta_x = np.column_stack([np.vstack(oof), _regime_proba(regime, scaled(meta_rows))])
        meta_y = meta_rows["label"].to_numpy(dtype="int64")
        stack = (float(meta_y.mean()) if len(np.unique(meta_y)) < 2
                 else LogisticRegression(C=1.0, max_iter=1000).fit(meta_x, meta_y))
    net = train["net_return"] if "net_return" in train else pd.Series(np.nan, index=train.index)
    label = train["label"].astype(bool)
    seconds["stack"] = time.perf_counter() - t0
    final = {n: done["final", n][0] for n in cfg.models}
    return Ensemble(list(features), cfg, mean, std, final, regime, stack, len(train),
                    float(net[label].mean()) if label.any() else float("nan"),
                    float(net[~label].mean()) if (~label).any() else float("nan"), seconds)


def predict(ensemble: Ensemble, frame: pd.DataFrame, hours: pd.DatetimeIndex | None = None) -> FoldPredictions:
    """Predict the rows of ``frame`` whose hour is in ``hours`` (all rows: None).

    ``frame`` (venue, symbol, hour, the ensemble's features) may hold earlier hours too: the
    sequence models read up to :data:`SEQUENCE_H` − 1 earlier hours of each instrument from it.
    Rows with a NaN feature are neither predicted nor read as history; the others keep their order.
    """
    rows = frame.dropna(subset=ensemble.features).reset_index(drop=True)
    pick = np.ones(len(rows), dtype=bool) if hours is None else rows["hour"].isin(hours).to_numpy()
    if not pick.any():  # nothing complete to predict (a look-back still filling): no model is asked
        none = np.zeros(0)
        return FoldPredictions({n: none for n in ensemble.cfg.models}, np.zeros((0, len(REGIMES))), none,
                               rows.iloc[0:0][["venue", "symbol", "hour"]].reset_index(drop=True))
    x = ensemble.scaled(rows)
    base = _predict_base(ensemble.base, rows, x, pick)
    regime = _regime_proba(ensemble.regime, x[pick])
    stacked = np.column_stack([base[n] for n in ensemble.cfg.models]) if len(ensemble.cfg.models) else np.zeros((int(pick.sum()), 0))
    if ensemble.stack is None:
        meta = stacked.mean(axis=1)  # no block to stack on: the plain average
    elif isinstance(ensemble.stack, float):
        meta = np.full(int(pick.sum()), ensemble.stack)
    else:
        meta = ensemble.stack.predict_proba(np.column_stack([stacked, regime]))[:, 1]
    return FoldPredictions(base, regime, meta, rows.loc[pick, ["venue", "symbol", "hour"]].reset_index(drop=True))


def fit_predict(train: pd.DataFrame, test: pd.DataFrame, features: list[str], cfg: EnsembleConfig) -> FoldPredictions:
    """Fit on ``train`` and predict ``test`` (the test rows are the only history the sequences read)."""
    return predict(fit(train, features, cfg), test)


@dataclass
class RegimeModel:
    """The regime classifier: a fitted model and where each of :data:`REGIMES` sits in its classes, or fixed shares."""

    model: object
    order: list[int | None]
    share: np.ndarray | None = None


def _regime_proba(model: RegimeModel, x: np.ndarray) -> np.ndarray:
    if model.share is not None:
        return np.tile(model.share, (len(x), 1))
    p = model.model.predict_proba(x)
    return np.column_stack([p[:, j] if j is not None else np.zeros(len(x)) for j in model.order])


def _regime_classifier(train: pd.DataFrame, x: np.ndarray, cfg: EnsembleConfig) -> RegimeModel:
    """Probabilities of each of :data:`REGIMES` from the features (rows whose regime is unknown are not learned from)."""
    from sklearn.linear_model import LogisticRegression

    known = train["regime"].isin(REGIMES).to_numpy()
    labels = train.loc[known, "regime"].to_numpy()
    if known.sum() == 0 or len(np.unique(labels)) < 2:
        share = np.array([float((labels == r).mean()) if len(labels) else 1.0 / len(REGIMES) for r in REGIMES])
        return RegimeModel(None, [], share)
    model = LogisticRegression(max_iter=1000, random_state=cfg.seed).fit(x[known], labels)
    return RegimeModel(model, [list(model.classes_).index(r) if r in model.classes_ else None for r in REGIMES])
