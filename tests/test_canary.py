"""The drift canary's comparison: the first date is the baseline; a judge that labels as before
agrees at kappa 1, one whose answers changed is caught, and the sample is the same on every run."""

import numpy as np
import polars as pl

from culturalign.agreement import LABELS
from culturalign.canary import BASELINE, CANARY_LABEL_SCHEMA, drift, seeded_sample


def labels(kind: str, values) -> pl.DataFrame:
    return pl.DataFrame(
        [(kind, f"unit-{index}", value) for index, value in enumerate(values)],
        schema=CANARY_LABEL_SCHEMA,
        orient="row",
    )


def test_the_first_date_is_the_baseline_and_an_unchanged_judge_does_not_drift():
    rng = np.random.default_rng(0)
    before = labels("stance", rng.choice(LABELS, size=200))
    first = drift(before, {}, judge="j", date="2026-01-01", min_kappa=0.8)
    assert first["note"].item() == BASELINE and first["drifted"].item() is False
    warnings = []
    again = drift(
        before, {"2026-01-01": before}, judge="j", date="2026-02-01", min_kappa=0.8, log=warnings.append
    )
    assert again["kappa"].item() == 1.0 and again["drifted"].item() is False and warnings == []


def test_a_judge_whose_answers_changed_is_caught_against_its_first_date():
    rng = np.random.default_rng(1)
    first = rng.choice(LABELS, size=400)
    moved = np.where(
        rng.random(400) < 0.4, np.roll(np.array(LABELS), -1)[[LABELS.index(x) for x in first]], first
    )
    earlier = {"2026-01-01": labels("stance", first), "2026-02-01": labels("stance", moved)}
    warnings = []
    result = drift(
        labels("stance", moved), earlier, judge="j", date="2026-03-01", min_kappa=0.8, log=warnings.append
    )
    row = result.row(0, named=True)
    # compared with the first date, not the latest
    assert row["baseline_date"] == "2026-01-01" and row["drifted"] is True
    assert row["kappa_low"] < row["kappa"] < row["kappa_high"] < 0.8
    assert len(warnings) == 1 and "j drifted (stance)" in warnings[0]


def test_the_canary_sample_is_the_same_whatever_the_order_of_the_rows():
    frame = pl.DataFrame(
        {"item": [f"i{n % 7}" for n in range(100)], "statement": [f"s{n}" for n in range(100)]}
    )
    one = seeded_sample(frame, 10, 0, "stance")
    other = seeded_sample(frame.sample(fraction=1.0, shuffle=True, seed=3), 10, 0, "stance")
    assert one.equals(other) and one.height == 10
    assert seeded_sample(frame, 500, 0, "stance").height == 100
