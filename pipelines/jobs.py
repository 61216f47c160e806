"""Jobs over the asset graph. Every job is hourly-partitioned and runs in-process (small machines)."""

from __future__ import annotations

from dagster import AssetSelection, define_asset_job

from resources.partitions import FOLDS, HOURLY

MARKET_DATA = AssetSelection.groups("market_data")
HOURLY_CYCLE = AssetSelection.groups("market_data", "features", "signals", "book") | AssetSelection.assets("model_predictions_1h")
FUNDING = AssetSelection.assets("funding_settlements", "universe_scan_1h")
SOURCES = AssetSelection.assets("perp_ohlcv_1h", "funding_settlements", "open_interest_1h")
#: What a fold learns from: market data, the scan, features and rule-based regimes (the cycle's first half).
CYCLE_INPUTS = AssetSelection.groups("market_data", "features")

#: The hourly cycle: every hourly asset and its checks for one hour (or a range), the book included.
hourly_job = define_asset_job("hourly_cycle", selection=HOURLY_CYCLE, partitions_def=HOURLY)
#: The hourly cycle in two halves, for a backfill that trains folds (``pipelines.runner``): the inputs
#: over the whole window first, so each fold can be fitted in a second process while the decisions
#: (signals, predictions, the book) follow week by week. Together they are ``hourly_cycle``.
CYCLE_INPUTS_JOB = "hourly_inputs"
CYCLE_DECISIONS_JOB = "hourly_decisions"
inputs_job = define_asset_job(CYCLE_INPUTS_JOB, selection=CYCLE_INPUTS, partitions_def=HOURLY)
decisions_job = define_asset_job(CYCLE_DECISIONS_JOB, selection=HOURLY_CYCLE - CYCLE_INPUTS, partitions_def=HOURLY)
#: Funding settlements and the scan that reads them, for a settlement hour.
funding_job = define_asset_job("funding_settlement", selection=FUNDING, partitions_def=HOURLY)

#: The exchange-fed assets only: the warm-up hours a window's look-backs read.
sources_job = define_asset_job("market_sources", selection=SOURCES, partitions_def=HOURLY)

#: The performance report over the stored book (not partitioned: it reads every stored hour).
report_job = define_asset_job("performance_report_job", selection=AssetSelection.assets("performance_report"))

#: One walk-forward fold of the ML sleeve: train its ensemble on the stored hours before it.
ML_FOLD_JOB = "ml_walk_forward"
ml_fold_job = define_asset_job(ML_FOLD_JOB, selection=AssetSelection.assets("ml_fold_models"), partitions_def=FOLDS)

#: A fold's out-of-sample scores, once its hours are predicted.
ML_EVALUATION_JOB = "ml_fold_evaluation_job"
ml_evaluation_job = define_asset_job(ML_EVALUATION_JOB, selection=AssetSelection.assets("ml_fold_evaluation"),
                                     partitions_def=FOLDS)

#: The book's positions against the venues' (unpartitioned: the latest stored hour, when it runs).
RECONCILIATION_JOB = "venue_reconciliation_job"
reconciliation_job = define_asset_job(RECONCILIATION_JOB, selection=AssetSelection.assets("venue_reconciliation"))
#: An hour's approved intents through the order path (live), after its scheduled hourly run.
LIVE_ORDERS_JOB = "live_orders"
live_orders_job = define_asset_job(LIVE_ORDERS_JOB, selection=AssetSelection.assets("order_submissions_1h"),
                                   partitions_def=HOURLY)
#: The Deribit chain recorded inside the hour (its schedule at :50), for the live tail hedge.
OPTIONS_CHAIN_JOB = "options_chain_job"
options_chain_job = define_asset_job(OPTIONS_CHAIN_JOB, selection=AssetSelection.assets("options_chain_1h"),
                                     partitions_def=HOURLY)
JOBS = [hourly_job, inputs_job, decisions_job, funding_job, sources_job, report_job, ml_fold_job, ml_evaluation_job,
        reconciliation_job, live_orders_job, options_chain_job]
