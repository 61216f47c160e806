"""Research: the experiment journal (hypotheses, verdicts that cannot fool themselves) and parameter search."""
