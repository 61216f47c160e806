"""Every asset and asset check of the code location, listed once."""

from assets.book import BOOK_ASSETS
from assets.features import FEATURE_ASSETS
from assets.market_data import MARKET_DATA_ASSETS
from assets.report import REPORT_ASSETS
from assets.signals import SIGNAL_ASSETS
from checks.book import BOOK_CHECKS
from checks.features import FEATURE_CHECKS
from checks.market_data import MARKET_DATA_CHECKS
from checks.signals import SIGNAL_CHECKS

ALL_ASSETS = [*MARKET_DATA_ASSETS, *FEATURE_ASSETS, *SIGNAL_ASSETS, *BOOK_ASSETS, *REPORT_ASSETS]
ALL_CHECKS = [*MARKET_DATA_CHECKS, *FEATURE_CHECKS, *SIGNAL_CHECKS, *BOOK_CHECKS]
