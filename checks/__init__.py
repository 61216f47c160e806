"""Asset checks: data quality (great-expectations and time-series rules) and risk; failures trip the kill switch."""
