"""``perpetua journal``: the experiment journal on the replay data (list, seed, run, test).

* ``seed`` declares the standard hypotheses (:mod:`pipelines.journal_seed`) in
  ``<root>/hypotheses.jsonl``: a hypothesis is written down before anything runs, and an id keeps
  its one definition for the journal's life (a changed definition under a known id is refused).
* ``run ID`` / ``run --all`` evaluate declared hypotheses through the book
  (:class:`quant.research.backtest_eval.BookEvaluator`): every configuration on train, the
  in-sample best on validation, judged there (:class:`quant.research.Journal`). ``--all`` runs
  those not run yet; ``run ID`` runs one again (its trials count again).
* ``test ID`` is the one look at a validated hypothesis's test window; any other look is refused
  and the refusal is recorded.
* ``list`` prints the journal (what ran, what I saw, what's next) and each declared hypothesis's state.

The journal lives in its own folder under the environment's storage root
(``<storage root>/research_journal``), beside the audited Parquet tables and the ML model store,
never inside a table. Bad input — an unknown id or strategy, a parameter outside its declared
range, a window outside the data — is refused before the data is read.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from pipelines.environments import PROJECT_ROOT, Settings

#: The journal's folder under the storage root.
JOURNAL_DIR = "research_journal"
#: Declared hypotheses, one JSON definition a line, under the journal's folder.
DECLARED_FILE = "hypotheses.jsonl"
#: Exit code of a run or look the journal refused (it is recorded all the same).
EXIT_REFUSED = 1


def journal_root(s: Settings) -> Path:
    """``<storage root>/research_journal`` (a local folder: the journal is a file appended line by line)."""
    if "://" in s.storage_root:
        raise ValueError(f"the research journal needs a local storage root, not {s.storage_root!r} "
                         "(set PERPETUA_STORAGE_ROOT to a folder)")
    return Path(s.storage_root) / JOURNAL_DIR


def code_version() -> str:
    """``git describe --always --dirty`` of the project, or the package's version where git cannot say."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=PROJECT_ROOT, capture_output=True,  # noqa: S607
                             text=True, timeout=10, check=True).stdout.strip()
        if out:
            return out
    except (OSError, subprocess.SubprocessError):
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"perpetua {version('perpetua')} (no git)"
    except PackageNotFoundError:
        return "unknown (no git, no package metadata)"


# -- declared hypotheses ----------------------------------------------------------------------------


def declared(root: Path):
    """Id → :class:`~quant.research.Hypothesis` of every declared hypothesis, in declaration order."""
    from quant.research import Hypothesis

    path = root / DECLARED_FILE
    if not path.exists():
        return {}
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            h = Hypothesis.from_dict(json.loads(line))
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path}, line {number}: unreadable hypothesis ({type(err).__name__}: {err})") from err
        if h.id in out and out[h.id].fingerprint() != h.fingerprint():
            raise ValueError(f"{path}, line {number}: hypothesis {h.id!r} declared twice with two definitions")
        out[h.id] = h
    return out


def check_hypothesis(h) -> None:
    """Refuse a hypothesis that cannot run here: unknown strategy, a parameter outside its range, a window without data."""
    from quant.strategies import get
    from resources.partitions import data_windows, describe_windows

    try:
        strategy = get(h.strategy)
    except KeyError as err:
        raise ValueError(f"hypothesis {h.id!r}: {err.args[0]}") from None
    for params in h.configurations():
        try:
            strategy.resolve(params)
        except ValueError as err:
            raise ValueError(f"hypothesis {h.id!r}: {err}") from None
    windows = data_windows()
    if windows is None:
        raise ValueError("the journal evaluates on the replay data: run it with --env local")
    for name, w in (("train", h.train), ("validation", h.validation), ("test", h.test)):
        start, end = pd.Timestamp(w.start), pd.Timestamp(w.end)
        if not any(a <= start and end <= b for a, b in windows):
            raise ValueError(f"hypothesis {h.id!r}: its {name} window {w} is not inside the data "
                             f"({describe_windows(windows)}; the months between have no data)")


def declare(root: Path, hypotheses, journal_entries=()) -> tuple[list[str], list[str]]:
    """Append the hypotheses not yet declared; (added ids, ids already declared alike). A changed definition is refused."""
    known = declared(root)
    recorded = {e.hypothesis.id: e.hypothesis for e in journal_entries}
    for h in hypotheses:
        check_hypothesis(h)
        before = known.get(h.id) or recorded.get(h.id)
        if before is not None and before.fingerprint() != h.fingerprint():
            raise ValueError(f"hypothesis {h.id!r} is already declared with another definition: give the new one a new id")
    added = [h for h in hypotheses if h.id not in known]
    if added:
        root.mkdir(parents=True, exist_ok=True)
        with (root / DECLARED_FILE).open("a", encoding="utf-8") as handle:
            for h in added:
                handle.write(json.dumps(h.to_dict(), sort_keys=True, ensure_ascii=False) + "\n")
    return [h.id for h in added], [h.id for h in hypotheses if h.id in known]


def lookup(root: Path, hypothesis_id: str):
    """The declared hypothesis ``hypothesis_id``, checked; ValueError naming the declared ids otherwise."""
    known = declared(root)
    if hypothesis_id not in known:
        have = ", ".join(known) if known else "none (run: perpetua journal seed)"
        raise ValueError(f"no hypothesis {hypothesis_id!r} is declared; declared: {have}")
    h = known[hypothesis_id]
    check_hypothesis(h)
    return h


# -- evaluation with progress -------------------------------------------------------------------------


def _params(p: Mapping) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in sorted(p.items())) + "}" if p else "defaults"


class ProgressEvaluator:
    """An evaluator that prints each evaluation as it ends: which window, trades, seconds, and the ETA of the rest."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.hypothesis = None
        self.total, self.done, self.seconds = 0, 0, 0.0

    def expect(self, h, evaluations: int) -> None:
        self.hypothesis, self.total, self.done, self.seconds = h, evaluations, 0, 0.0

    def _window_name(self, window) -> str:
        h = self.hypothesis
        names = {} if h is None else {h.train: "train", h.validation: "validation", h.test: "test"}
        return names.get(window, str(window))

    def __call__(self, strategy, params, window):
        t0 = time.perf_counter()
        result = self.inner(strategy, params, window)
        took = time.perf_counter() - t0
        self.done += 1
        self.seconds += took
        left = max(self.total - self.done, 0)
        eta = f", ETA {left * self.seconds / self.done:.0f}s for {left} more" if left else ""
        print(f"  [{self.done}/{self.total}] {strategy} {_params(params)} on {self._window_name(window)}: "
              f"{result.trades} entries filled, {took:.1f}s{eta}", flush=True)
        return result


def _journal(s: Settings, *, with_data: bool):
    """The journal under ``s``'s storage root; with the replay data's evaluator and market when ``with_data``."""
    from quant.research import Journal

    root = journal_root(s)
    if not with_data:
        return Journal(root, _no_evaluator, code_version=code_version()), None
    from pipelines.journal_data import replay_tables
    from quant.research.backtest_eval import BookEvaluator, BookMarket
    from resources.partitions import data_windows, describe_windows

    windows = data_windows()
    t0 = time.perf_counter()
    print(f"reading the replay data ({describe_windows(windows)}) ...", flush=True)
    tables = replay_tables(windows)
    print(f"  {len(tables.bars):,} bars, {len(tables.funding):,} funding settlements, "
          f"{len(tables.open_interest):,} open-interest rows in {time.perf_counter() - t0:.1f}s", flush=True)
    progress = ProgressEvaluator(BookEvaluator(tables))
    return Journal(root, progress, code_version=code_version(), market=BookMarket(tables)), progress


def _no_evaluator(strategy, params, window):  # pragma: no cover - list and seed never evaluate
    raise RuntimeError("this command does not evaluate")


# -- commands ---------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace, s: Settings) -> int:
    from quant.research import Verdict, render_journal

    journal, _ = _journal(s, with_data=False)
    print(render_journal(journal.entries))
    known = declared(journal_root(s))
    print(f"\nDeclared hypotheses ({len(known)}) in {journal_root(s) / DECLARED_FILE}:" if known
          else "\nNo hypotheses declared yet: perpetua journal seed")
    sealed = journal.sealed_tests()
    for hid, h in known.items():
        latest = [e for e in journal.entries if e.hypothesis.id == hid and e.verdict is not Verdict.REFUSED]
        state = "not run yet" if not latest else f"latest {latest[-1].kind} #{latest[-1].seq}: {latest[-1].verdict.value}"
        seal = f"; test window sealed by #{sealed[hid].seq}" if hid in sealed else ""
        print(f"  {hid:<18} {h.strategy:<16} {len(h.configurations()):>2} config(s)  {state}{seal}")
    return 0


def cmd_seed(args: argparse.Namespace, s: Settings) -> int:
    from pipelines.journal_seed import standard_hypotheses

    journal, _ = _journal(s, with_data=False)
    added, kept = declare(journal_root(s), standard_hypotheses(), journal.entries)
    for hid in added:
        print(f"declared {hid}")
    if kept:
        print(f"already declared, unchanged: {', '.join(kept)}")
    print(f"hypotheses: {journal_root(s) / DECLARED_FILE}; next: perpetua journal run --all")
    return 0


def _run_one(journal, progress, h) -> int:
    from quant.research import Verdict, render_entry

    n = len(h.configurations())
    what = f"a sweep of {n} configurations" if n > 1 else "one configuration"
    print(f"\n{h.id}: {h.strategy}, {what} on train, the in-sample best on validation", flush=True)
    progress.expect(h, n + 1)
    entry = journal.run(h)
    print(render_entry(entry), flush=True)
    return EXIT_REFUSED if entry.verdict is Verdict.REFUSED else 0


def cmd_run(args: argparse.Namespace, s: Settings) -> int:
    from quant.research import Verdict

    root = journal_root(s)
    if args.all == bool(args.hypothesis):
        raise ValueError("name one hypothesis (perpetua journal run ID) or --all, not both and not neither")
    if args.all:
        known = declared(root)
        if not known:
            raise ValueError("no hypotheses are declared: run perpetua journal seed first")
        for h in known.values():
            check_hypothesis(h)
        peek, _ = _journal(s, with_data=False)
        ran = {e.hypothesis.id for e in peek.entries if e.kind == "run" and e.verdict is not Verdict.REFUSED}
        todo = [h for h in known.values() if h.id not in ran]
        if skipped := [hid for hid in known if hid in ran]:
            print(f"already run, skipped: {', '.join(skipped)} (perpetua journal run ID runs one again; its trials count again)")
        if not todo:
            print("nothing left to run")
            return 0
    else:
        todo = [lookup(root, args.hypothesis)]
    journal, progress = _journal(s, with_data=True)
    t0 = time.perf_counter()
    codes = [_run_one(journal, progress, h) for h in todo]
    print(f"\n{len(todo)} hypothes{'i' if len(todo) == 1 else 'e'}s in {time.perf_counter() - t0:.0f}s; "
          f"{journal.trial_count} trial(s) in the journal")
    return max(codes)


def cmd_test(args: argparse.Namespace, s: Settings) -> int:
    from quant.research import Verdict, render_entry

    h = lookup(journal_root(s), args.hypothesis)
    peek, _ = _journal(s, with_data=False)
    if peek.test_refusal(h) is not None:  # refused before the data is read; the journal records the refusal
        entry = peek.test(h)
    else:
        journal, progress = _journal(s, with_data=True)
        print(f"\n{h.id}: the one look at its test window {h.test}", flush=True)
        progress.expect(h, 1)
        entry = journal.test(h)
    print(render_entry(entry))
    return EXIT_REFUSED if entry.verdict is Verdict.REFUSED else 0


def add_journal_parser(sub) -> None:
    """Register ``perpetua journal`` and its subcommands on the CLI's subparsers."""
    j = sub.add_parser("journal", help="the research journal: seed hypotheses, run them, one test look, list",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    jsub = j.add_subparsers(dest="journal_command", required=True)
    jsub.add_parser("list", help="every entry: what ran, what I saw, what's next").set_defaults(fn=cmd_list)
    jsub.add_parser("seed", help="declare the five standard hypotheses (idempotent)").set_defaults(fn=cmd_seed)
    r = jsub.add_parser("run", help="train + validation of one declared hypothesis, or --all not run yet")
    r.add_argument("hypothesis", nargs="?", default="", help="a declared hypothesis id")
    r.add_argument("--all", action="store_true", help="every declared hypothesis without a run yet")
    r.set_defaults(fn=cmd_run)
    t = jsub.add_parser("test", help="the one sealed look at a validated hypothesis's test window")
    t.add_argument("hypothesis", help="a declared hypothesis id")
    t.set_defaults(fn=cmd_test)
