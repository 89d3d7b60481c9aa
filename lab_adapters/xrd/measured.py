"""Phase identification scored on measured patterns with a known answer (``bench xrd-measured``).

Inputs: a folder of pattern files (any format :func:`read_pattern` reads), a folder of
reference CIFs, a truth table ``file,phase_formula,wt_fraction`` and optional distractor
CIFs that are added to the references (the default: the shipped Li-Mn-Ti-O-F phases).

Scoring, per pattern (phases compared by pymatgen ``Composition``, reduced formula):

- The truth set is the set of truth phases that have a reference, plus ``unidentified``
  exactly when a truth phase has none. A pattern with no referenced truth phase is left out.
- The reported set is the reduced formulas of the reported phases, plus ``unidentified``
  when the analysis reports an unidentified residual.
- ``phase_set_accuracy``: share of patterns whose reported set equals the truth set.
- ``spurious_rate``: reported phases above 3 wt % that are not in the truth, per pattern;
  a second polymorph of one formula above 3 wt % counts as spurious too.
- ``wt_fraction_mae``: mean over (pattern, formula) in the union of true and reported
  referenced phases of ``|w_true - w_reported|``, the truth renormalised over its referenced
  phases (as in ``bench xrd``).
- ``unknown_detection_rate``: share of patterns with an unreferenced truth phase whose
  analysis reports an unidentified residual; ``unknown_false_alarm_rate`` the share of the
  others that report one.
- ``seconds_per_pattern``: cold wall time (reference loading included) over patterns; in
  ``by_scan``, the mean time of the fits alone.
"""

from __future__ import annotations

import csv
import logging
import re
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from pymatgen.core import Composition

from lab_adapters.xrd.analyze import AnalysisConfig, XRDAnalyzer
from lab_adapters.xrd.readers import PATTERN_SUFFIXES, read_pattern
from lab_adapters.xrd.references import ReferenceSet, load_references
from loop.errors import InputDataError
from loop.records import PhaseAnalysis

__all__ = ["SPURIOUS_WT", "UNIDENTIFIED", "combine_references", "read_truth", "run_measured_benchmark", "score_pattern"]

logger = logging.getLogger(__name__)

UNIDENTIFIED = "unidentified"
SPURIOUS_WT = 0.03
_SCAN = re.compile(r"--(\d+min)$")


def formula_key(formula: str) -> str:
    """Reduced formula, so that ``La(OH)3`` and ``LaH3O3`` compare equal."""
    try:
        return Composition(formula).reduced_formula
    except Exception as exc:  # pymatgen raises ValueError/KeyError for bad formulas
        raise InputDataError(f"not a chemical formula: {formula!r}") from exc


def read_truth(path: str | Path) -> dict[str, dict[str, float]]:
    """``{file name: {reduced formula: wt fraction}}`` from a ``file,phase_formula,wt_fraction`` CSV."""
    p = Path(path)
    if not p.is_file():
        raise InputDataError("truth table not found", source=str(p))
    truth: dict[str, dict[str, float]] = defaultdict(dict)
    with p.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        need = {"file", "phase_formula", "wt_fraction"}
        if not need <= set(reader.fieldnames or []):
            raise InputDataError(f"truth table needs columns {sorted(need)}, has {reader.fieldnames}", source=str(p))
        for i, row in enumerate(reader, start=2):
            try:
                w = float(row["wt_fraction"])
            except ValueError:
                raise InputDataError(f"row {i}: wt_fraction {row['wt_fraction']!r} is not a number", source=str(p)) from None
            truth[row["file"]][formula_key(row["phase_formula"])] = w
    return dict(truth)


def combine_references(primary: ReferenceSet, extra: ReferenceSet | None) -> ReferenceSet:
    """``primary`` plus the phases of ``extra`` whose names are not taken (logged)."""
    if extra is None:
        return primary
    names = set(primary.names)
    added = [p for p in extra.phases if p.name not in names]
    if len(added) < len(extra):
        logger.info("distractors: %d of %d kept (names already among the references skipped)", len(added), len(extra))
    return ReferenceSet(primary.phases + tuple(added), source=primary.source)


def reported_set(analysis: PhaseAnalysis) -> set[str]:
    out = {formula_key(p.formula or p.name) for p in analysis.phases}
    if analysis.unidentified is not None and analysis.unidentified.detected:
        out.add(UNIDENTIFIED)
    return out


def score_pattern(truth: dict[str, float], referenced: set[str], analysis: PhaseAnalysis) -> dict:
    """Scores of one analysis against the truth ``{formula: wt}`` (``referenced``: formulas with a reference)."""
    ref_truth = {f: w for f, w in truth.items() if f in referenced}
    total = sum(ref_truth.values())
    ref_truth = {f: w / total for f, w in ref_truth.items()} if total > 0 else ref_truth
    truth_set = set(ref_truth) | ({UNIDENTIFIED} if len(ref_truth) < len(truth) else set())
    got: dict[str, float] = defaultdict(float)
    spurious = 0
    seen_big: set[str] = set()
    for p in analysis.phases:
        f = formula_key(p.formula or p.name)
        got[f] += p.weight_fraction
        if p.weight_fraction > SPURIOUS_WT:
            if f not in ref_truth or f in seen_big:
                spurious += 1
            seen_big.add(f)
    rep = reported_set(analysis)
    errors = [abs(got.get(f, 0.0) - ref_truth.get(f, 0.0)) for f in set(got) | set(ref_truth)]
    return {
        "truth": sorted(truth_set),
        "reported": sorted(rep),
        "correct": rep == truth_set,
        "spurious": spurious,
        "errors": errors,
        "has_unknown": UNIDENTIFIED in truth_set,
        "reported_unknown": UNIDENTIFIED in rep,
        "weights": {f: round(w, 4) for f, w in sorted(got.items())},
    }


def _summary(rows: list[dict], seconds: float | None = None) -> dict:
    n = len(rows)
    unknown = [r for r in rows if r["has_unknown"]]
    known = [r for r in rows if not r["has_unknown"]]
    errors = [e for r in rows for e in r["errors"]]
    return {
        "n_patterns": n,
        "phase_set_accuracy": sum(r["correct"] for r in rows) / n if n else 0.0,
        "wt_fraction_mae": sum(errors) / len(errors) if errors else 0.0,
        "spurious_rate": sum(r["spurious"] for r in rows) / n if n else 0.0,
        "unknown_detection_rate": (sum(r["reported_unknown"] for r in unknown) / len(unknown)) if unknown else None,
        "unknown_false_alarm_rate": (sum(r["reported_unknown"] for r in known) / len(known)) if known else None,
        "seconds_per_pattern": (seconds if seconds is not None else sum(r["seconds"] for r in rows)) / n if n else 0.0,
    }


def run_measured_benchmark(
    patterns: str | Path,
    references: str | Path,
    truth: str | Path,
    distractors: str | Path | None = None,
    config: AnalysisConfig | None = None,
    wavelength: str | float | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    sample_elements: bool = False,
) -> dict:
    """Analyse every pattern file in ``patterns`` and score it (see the module docstring).

    ``sample_elements`` restricts each pattern's references to the elements of its truth phases
    (what a lab knows from its precursors): an arm with more information, reported as such.
    """
    t0 = time.perf_counter()
    root = Path(patterns)
    if not root.is_dir():
        raise InputDataError("pattern folder does not exist", source=str(root))
    table = read_truth(truth)
    refs = combine_references(load_references(references), load_references(distractors) if distractors else None)
    referenced = {formula_key(p.formula) for p in refs.phases}
    files = sorted(p for p in root.iterdir() if p.is_file() and p.suffix.lower() in PATTERN_SUFFIXES)
    todo = []
    for f in files:
        if f.name not in table:
            logger.warning("%s has no row in the truth table; skipped", f.name)
            continue
        if not set(table[f.name]) & referenced:
            logger.info("%s: no truth phase has a reference; left out", f.name)
            continue
        todo.append(f)
    analyzer = XRDAnalyzer(refs, config)
    rows = []
    for i, f in enumerate(todo):
        t_fit = time.perf_counter()
        if sample_elements:
            elements = {el.symbol for formula in table[f.name] for el in Composition(formula).elements}
            analyzer = XRDAnalyzer(refs.within(elements), config)
        fit = analyzer.fit(read_pattern(f, wavelength))
        t_fit = time.perf_counter() - t_fit
        row = score_pattern(table[f.name], referenced, fit.analysis)
        m = _SCAN.search(f.stem)
        row.update(file=f.name, scan=m.group(1) if m else None, rwp=round(fit.rwp, 4), seconds=round(t_fit, 3))
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(todo), f.name)
        logger.info("%s: truth %s reported %s %s", f.name, row["truth"], row["reported"], row["weights"])
    seconds = time.perf_counter() - t0
    out = _summary(rows, seconds)
    scans = sorted({r["scan"] for r in rows if r["scan"]})
    if scans:
        out["by_scan"] = {s: _summary([r for r in rows if r["scan"] == s]) for s in scans}
    out["n_references"] = len(refs)
    out["sample_elements"] = sample_elements
    out["patterns"] = [{k: v for k, v in r.items() if k != "errors"} for r in rows]
    return out
