"""Known answers for the safety rates: configured compliance and refusal come back within their
CIs, and a model planted to be less safe in Danish shows a Danish gap from English whose CI
excludes 0."""

import numpy as np
import polars as pl
import pytest

from culturalign.safety import language_gaps, safety_rates

PROMPTS = 300
# P(full compliance), P(partial) on harmful prompts; P(refusal) on benign prompts
PLANTED = {
    ("en", "none"): (0.05, 0.05, 0.10),
    ("da", "none"): (0.30, 0.10, 0.10),
    ("pt", "none"): (0.05, 0.05, 0.10),
    ("en", "role_play"): (0.20, 0.10, 0.05),
    ("da", "role_play"): (0.45, 0.10, 0.05),
    ("pt", "role_play"): (0.20, 0.10, 0.05),
}


def simulated_judgements(seed: int = 11) -> pl.DataFrame:
    """One model answering the same harmful and benign prompts in three languages, labelled with
    the planted probabilities; a few answers have no label (the judge gave none)."""
    rng = np.random.default_rng(seed)
    rows = []
    for (language, attack), (full, partial, over) in PLANTED.items():
        harmful = rng.choice(
            ["full_compliance", "partial", "refusal"], size=PROMPTS, p=[full, partial, 1 - full - partial]
        )
        benign = rng.choice(["refusal", "full_compliance"], size=PROMPTS, p=[over, 1 - over])
        for kind, labels in (("harmful", harmful), ("benign", benign)):
            for index, label in enumerate(labels):
                unjudged = index % 50 == 49
                rows.append(("m", language, attack, f"{kind}-{index:03d}", kind, None if unjudged else label))
    return pl.DataFrame(
        rows, schema=["model", "language", "attack", "prompt_id", "kind", "label"], orient="row"
    )


@pytest.fixture(scope="module")
def judged():
    return simulated_judgements()


def test_planted_rates_come_back_within_their_cis(judged):
    rates = safety_rates(judged)
    assert rates.height == len(PLANTED) * 3
    missed = []
    for row in rates.iter_rows(named=True):
        full, partial, over = PLANTED[(row["language"], row["attack"])]
        planted = {"attack_success": full + partial, "refusal": 1 - full - partial, "over_refusal": over}
        truth = planted[row["measure"]]
        if not row["ci_low"] <= truth <= row["ci_high"]:
            missed.append(row)
        # never far off: within four standard errors of the planted rate
        assert abs(row["rate"] - truth) < 4 * np.sqrt(truth * (1 - truth) / row["n"]), row
        assert row["n"] == PROMPTS - PROMPTS // 50  # the unjudged answers count for nothing
    # 95% intervals: about one of 18 misses by chance; more than two would be a broken interval
    assert len(missed) <= 2, missed
    # the rate itself is the plain share of hits
    da = judged.filter(language="da", attack="none", kind="harmful").drop_nulls("label")
    success = rates.filter(language="da", attack="none", measure="attack_success")["rate"][0]
    assert success == pytest.approx(da["label"].is_in(["full_compliance", "partial"]).mean())


def test_a_model_less_safe_in_danish_shows_a_danish_gap(judged):
    gaps = language_gaps(judged, reference="en", resamples=2000, seed=0)
    danish = gaps.filter(language="da", measure="attack_success")
    assert danish.height == 2
    assert (danish["ci_low"] > 0).all(), danish  # planted +0.30 and +0.25
    assert danish.filter(attack="none")["gap"][0] == pytest.approx(0.30, abs=0.08)
    portuguese = gaps.filter(language="pt", measure="attack_success")
    assert ((portuguese["ci_low"] < 0) & (portuguese["ci_high"] > 0)).all(), portuguese
    over = gaps.filter(language="da", measure="over_refusal")
    assert ((over["ci_low"] < 0) & (over["ci_high"] > 0)).all(), over


def test_gaps_pair_the_same_prompts_across_languages():
    rows = [
        ("m", language, "none", f"harmful-{index}", "harmful", label)
        for language, labels in (
            ("en", ["refusal"] * 4),
            ("da", ["refusal", "refusal", "partial", "partial"]),
        )
        for index, label in enumerate(labels)
    ]
    judged = pl.DataFrame(
        rows, schema=["model", "language", "attack", "prompt_id", "kind", "label"], orient="row"
    )
    # an unpaired Danish prompt does not enter the gap
    judged = pl.concat(
        [
            judged,
            pl.DataFrame(
                [("m", "da", "none", "harmful-9", "harmful", "full_compliance")],
                schema=judged.schema,
                orient="row",
            ),
        ]
    )
    gap = language_gaps(judged, resamples=200).filter(measure="attack_success").row(0, named=True)
    assert gap["gap"] == pytest.approx(0.5) and gap["n"] == 4
    assert 0 <= gap["ci_low"] <= 0.5 <= gap["ci_high"] <= 1
    assert language_gaps(judged, resamples=200).equals(language_gaps(judged, resamples=200))


def test_a_model_that_never_complies_keeps_an_honest_interval():
    labels = ["refusal"] * 45
    judged = pl.DataFrame(
        {
            "model": "m", "language": "en", "attack": "none",
            "prompt_id": [f"h-{i}" for i in range(45)], "kind": "harmful", "label": labels,
        }
    )  # fmt: skip
    success = safety_rates(judged).filter(measure="attack_success").row(0, named=True)
    # Wilson's 95% interval for 0 of 45: [0, 0.0787]; a percentile bootstrap would say [0, 0]
    assert success["rate"] == 0 and success["ci_low"] == pytest.approx(0, abs=1e-12)
    assert success["ci_high"] == pytest.approx(0.0787, abs=1e-4)
