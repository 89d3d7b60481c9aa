"""The report's XRD figure: phases, fit quality and the peaks no reference explains."""

from __future__ import annotations

import numpy as np

from loop.records import Observation, PhaseAnalysis, PhaseFraction, UnidentifiedPeak, UnidentifiedResidual
from loop.report.figures import xrd_figure


def _observation(tmp_path, detected: bool) -> Observation:
    x = np.linspace(10, 80, 200)
    fit = tmp_path / f"r{int(detected)}.fit.csv"
    np.savetxt(fit, np.column_stack([x, x * 0 + 5, x * 0 + 4, x * 0 + 4]), delimiter=",",
               header="two_theta,observed,fit,MnO", comments="")
    residual = UnidentifiedResidual(detected=detected, intensity_share=0.12 if detected else 0.0,
                                    peaks=[UnidentifiedPeak(two_theta=30.6, height=50.0, share=0.12)] if detected else [])
    analysis = PhaseAnalysis(phases=[PhaseFraction(name="MnO", formula="MnO", weight_fraction=1.0)], rwp=0.083,
                             unidentified=residual)
    return Observation(request_id="r", candidate_id="c", phase_analysis=analysis, raw_files=[str(fit)])


def test_unidentified_peaks_are_marked_and_named(tmp_path):
    fig = xrd_figure(_observation(tmp_path, True), "r")
    ax = fig.axes[0]
    assert "Rwp 8.3 %" in ax.get_title()
    assert "unidentified peaks carry 12%" in ax.get_title()
    marks = [ln for ln in ax.get_lines() if ln.get_label() == "unidentified"]
    assert len(marks) == 1 and marks[0].get_xdata()[0] == 30.6
    clean = xrd_figure(_observation(tmp_path, False), "r").axes[0]
    assert "unidentified" not in clean.get_title()
    assert not [ln for ln in clean.get_lines() if ln.get_label() == "unidentified"]
