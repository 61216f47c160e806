"""Every asset of the code location, listed once; each carries its own blocking quality check."""

from assets.book import BOOK_ASSETS
from assets.features import FEATURE_ASSETS
from assets.market_data import MARKET_DATA_ASSETS
from assets.ml import ML_ASSETS
from assets.options_chain import options_chain_1h
from assets.orders import order_submissions_1h
from assets.reconciliation import venue_reconciliation
from assets.report import REPORT_ASSETS
from assets.signals import SIGNAL_ASSETS
from assets.strategies import STRATEGY_ASSETS

DATA_ASSETS = [*MARKET_DATA_ASSETS, *FEATURE_ASSETS, *SIGNAL_ASSETS, *STRATEGY_ASSETS, *ML_ASSETS, *BOOK_ASSETS, *REPORT_ASSETS]
#: Operations, outside the hourly cycle: the last hop of the orders (live only) and the book against
#: the venues (its check is WARN, alert-only).
OPERATIONS_ASSETS = [order_submissions_1h, venue_reconciliation]
#: Recorded live, inside each hour, by its own schedule (the live tail hedge reads it).
OPTIONS_ASSETS = [options_chain_1h]
ALL_ASSETS = [*DATA_ASSETS, *OPTIONS_ASSETS, *OPERATIONS_ASSETS]
#: The data-quality checks, each declared on its asset (``check_specs``) and evaluated in the asset's step.
ALL_CHECK_KEYS = sorted({key for a in DATA_ASSETS for key in a.check_keys}, key=lambda k: k.to_user_string())
