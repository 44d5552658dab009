"""Known answers for the safety rates: configured compliance and refusal come back within their
CIs, and a model planted to be less safe in Danish shows a Danish gap from English whose CI
excludes 0. Over all attacks the five wrappers of a prompt go together, and the intervals still
cover at their level; a gap without a single discordant pair keeps an interval around 0."""

from statistics import NormalDist

import numpy as np
import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from conftest import shipped_phrase_banks
from culturalign.safety.judge import (
    NO_MATCHER,
    UNDEFINED_KAPPA,
    SafetyReader,
    judge_agreement_by_language,
    read_simulated_run,
)
from culturalign.safety.rates import (
    language_gaps,
    safety_rates,
    tango_interval,
    with_pooled_attacks,
)
from culturalign.safety.refusal import RefusalRules
from culturalign.safety.sets import COMMON_ATTACKS

Z = NormalDist().inv_cdf(0.975)
# the attacks a study runs by default: the prompt as it is and the four wrappers every language has
DEFAULT_ATTACKS = ("none", *COMMON_ATTACKS)

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
    # each prompt answered once under an attack: the plain Wilson interval over the prompts
    assert (rates["clusters"] == rates["n"]).all() and (rates["interval"] == "wilson").all()
    # the rate itself is the plain share of hits
    da = judged.filter(language="da", attack="none", kind="harmful").drop_nulls("label")
    success = rates.filter(language="da", attack="none", measure="attack_success")["rate"][0]
    assert success == pytest.approx(da["label"].is_in(["full_compliance", "partial"]).mean())


def test_a_model_less_safe_in_danish_shows_a_danish_gap(judged):
    gaps = language_gaps(judged, reference="en")
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
    gap = language_gaps(judged).filter(measure="attack_success").row(0, named=True)
    assert gap["gap"] == pytest.approx(0.5) and gap["n"] == 4 and gap["interval"] == "tango"
    # Tango's score interval for 2 discordant pairs of 4, both one way
    assert (gap["ci_low"], gap["ci_high"]) == pytest.approx((-0.2348, 0.8500), abs=1e-4)
    assert language_gaps(judged).equals(language_gaps(judged))


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
    # the same 45 prompts under five wrappers: 225 refusals that cannot show how the wrappers go
    # together count as the 45 prompts, not as 225 independent answers ([0, 0.0168])
    wrapped = pl.concat([judged.with_columns(attack=pl.lit(attack)) for attack in DEFAULT_ATTACKS])
    pooled = safety_rates(with_pooled_attacks(wrapped)).filter(attack="all", measure="attack_success")
    assert pooled["n"][0] == 225 and pooled["ci_high"][0] == pytest.approx(0.0787, abs=1e-4)


def wrapped_judgements(
    propensity: np.ndarray, languages: list[str], rng: np.random.Generator
) -> pl.DataFrame:
    """Harmful prompts answered under every attack: `propensity` (simulations x prompts x languages)
    is the chance that the model complies with a prompt in a language, whichever wrapper it wears,
    so that the five answers to one prompt go together. Each simulation is a model."""
    shape = (*propensity.shape, len(DEFAULT_ATTACKS))
    complied = rng.random(shape) < propensity[..., None]
    simulation, prompt, language, attack = np.indices(shape)
    return pl.DataFrame(
        {
            "model": simulation.ravel().astype(str),
            "language": np.array(languages)[language.ravel()],
            "attack": np.array(DEFAULT_ATTACKS)[attack.ravel()],
            "prompt_id": prompt.ravel().astype(str),
            "kind": "harmful",
            "label": np.where(complied.ravel(), "full_compliance", "refusal"),
        }
    )


def test_pooled_rates_count_prompts_not_answers():
    # 45 prompts, each with its own propensity (Beta(0.3, 0.7): mean 0.3, intra-prompt correlation
    # 0.5), shared by its five wrappers: a design effect of 1 + 4 * 0.5 = 3
    rng = np.random.default_rng(7)
    propensity = rng.beta(0.3, 0.7, size=(400, 45, 1))
    rates = safety_rates(with_pooled_attacks(wrapped_judgements(propensity, ["en"], rng))).filter(
        attack="all", measure="attack_success"
    )
    assert (rates["n"] == 225).all() and (rates["clusters"] == 45).all()
    assert (rates["interval"] == "wilson_clustered_by_prompt").all()
    covered = ((rates["ci_low"] <= 0.3) & (rates["ci_high"] >= 0.3)).mean()
    # Wilson over the 225 answers as if independent: too narrow by about sqrt(3)
    low, high = proportion_confint(
        (rates["rate"] * rates["n"]).round().to_numpy(), rates["n"].to_numpy(), method="wilson"
    )
    naive = ((low <= 0.3) & (high >= 0.3)).mean()
    assert covered >= 0.9, f"{covered:.1%} of the clustered intervals cover 0.3"
    assert naive < 0.85, f"{naive:.1%} of the independent intervals cover 0.3"


def simulated_gaps(danish: float, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    """300 simulated models answering 45 prompts in English and Danish under every attack, with a
    propensity 0.2 q + 0.8 r per prompt and language: q a prompt's own (Beta(0.3, 0.7)), the same
    in both languages, and r its translation's (Beta with mean 0.3 in English, `danish` in Danish,
    concentration 0.5), shared by the five wrappers. The true gap is 0.8 (danish - 0.3). Returns
    the pooled attack-success gaps and, for contrast, the pooled Tango interval that takes the
    225 pairs of a model as independent."""
    rng = np.random.default_rng(seed)
    shared = rng.beta(0.3, 0.7, size=(300, 45, 1))
    means = np.array([0.3, danish])
    translated = rng.beta(0.5 * means, 0.5 * (1 - means), size=(300, 45, 2))
    judged = wrapped_judgements(0.2 * shared + 0.8 * translated, ["en", "da"], rng)
    gaps = language_gaps(with_pooled_attacks(judged)).filter(attack="all", measure="attack_success")
    wide = judged.pivot(on="language", index=["model", "attack", "prompt_id"], values="label")
    difference = (wide["da"] == "full_compliance").cast(int) - (wide["en"] == "full_compliance").cast(int)
    counts = (
        wide.with_columns(difference=difference)
        .group_by("model")
        .agg(up=(pl.col("difference") == 1).sum(), down=(pl.col("difference") == -1).sum(), n=pl.len())
    )
    counts = gaps.select("model").join(counts, on="model", maintain_order="left")
    naive = np.column_stack(tango_interval(counts["up"], counts["down"], counts["n"]))
    return gaps, naive


def test_pooled_gaps_find_a_planted_gap_and_no_gap_where_there_is_none():
    gaps, naive = simulated_gaps(danish=0.3, seed=3)
    assert (gaps["clusters"] == 45).all() and (gaps["interval"] == "tango_clustered_by_prompt").all()
    covered = ((gaps["ci_low"] <= 0) & (gaps["ci_high"] >= 0)).mean()
    naive_covered = ((naive[:, 0] <= 0) & (naive[:, 1] >= 0)).mean()
    assert covered >= 0.9, f"{covered:.1%} of the clustered intervals cover a gap of 0"
    assert naive_covered < 0.85, f"{naive_covered:.1%} of the independent intervals cover 0"
    gaps, _ = simulated_gaps(danish=0.8, seed=4)
    found = (gaps["ci_low"] > 0).mean()
    covered = ((gaps["ci_low"] <= 0.4) & (gaps["ci_high"] >= 0.4)).mean()
    assert found >= 0.9, f"a planted gap of 0.4 found in {found:.1%} of simulations"
    assert covered >= 0.9, f"{covered:.1%} of the intervals cover the planted gap of 0.4"


@pytest.mark.parametrize("prompts", [10, 45, 200])
def test_a_gap_without_discordant_pairs_keeps_an_interval_around_0(prompts):
    # every prompt answered alike in both languages under every wrapper: half complied with, half
    # refused, so that every paired difference is 0 (a paired bootstrap says [0, 0])
    complied = np.repeat((np.arange(prompts) % 2.0)[None, :, None], 2, axis=2)
    judged = wrapped_judgements(complied, ["en", "da"], np.random.default_rng(0))
    gaps = language_gaps(with_pooled_attacks(judged)).filter(measure="attack_success")
    assert (gaps["gap"] == 0).all()
    # Tango's interval with no discordant pair is +-z^2 / (n + z^2) over n pairs, and over all
    # attacks n is the prompts: wrappers that always agree tell no more than the prompts do
    half_width = Z**2 / (prompts + Z**2)
    for row in gaps.iter_rows(named=True):
        assert row["n"] == prompts * (len(DEFAULT_ATTACKS) if row["attack"] == "all" else 1)
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((-half_width, half_width)), row


def test_the_width_of_a_gap_without_discordant_pairs_shrinks_with_pairs():
    pairs = np.array([5, 20, 80, 320])
    low, high = tango_interval(np.zeros(4), np.zeros(4), pairs)
    assert (low < 0).all() and (high > 0).all()
    assert (np.diff(high - low) < 0).all()
    assert high == pytest.approx(Z**2 / (pairs + Z**2))


def test_the_matcher_agreement_says_why_a_statistic_is_missing():
    # en: the judge calls 6 of 10 answers refusals, the matcher 5 of those and 1 other;
    # sw: no refusal phrases; ko: both call every answer a refusal; an unlabelled answer counts nowhere
    judge = ["refusal"] * 6 + ["full_compliance"] * 4 + [None]
    matcher = [True] * 5 + [False, True] + [False] * 3 + [True]
    judged = pl.DataFrame(
        {
            "language": ["en"] * 11 + ["sw"] * 4 + ["ko"] * 3,
            "label": [*judge, "refusal", "refusal", "partial", None, *["refusal"] * 3],
            "matcher_refusal": [*matcher, None, None, None, None, True, True, True],
        }
    )
    rows = {
        row["language"]: row
        for row in judge_agreement_by_language(judged, resamples=200).iter_rows(named=True)
    }
    en, sw, ko = rows["en"], rows["sw"], rows["ko"]
    # observed 0.8, chance 0.6 * 0.6 + 0.4 * 0.4
    assert en["n"] == 10 and en["agreement"] == pytest.approx(0.8)
    assert (
        en["kappa"] == pytest.approx((0.8 - 0.52) / 0.48) and en["kappa_low"] < en["kappa"] < en["kappa_high"]
    )
    assert en["note"] is None
    assert sw["n"] == 3 and sw["judge_refusal"] == pytest.approx(2 / 3) and sw["note"] == NO_MATCHER
    assert sw["agreement"] is None and sw["kappa"] is None and sw["matcher_refusal"] is None
    assert ko["agreement"] == 1.0 and ko["kappa"] is None and ko["note"] == UNDEFINED_KAPPA


def test_answers_in_a_language_without_refusal_phrases_get_no_matcher_verdict():
    bank = shipped_phrase_banks()["ko"]
    responses = pl.DataFrame(
        {
            "prompt_id": ["a", "b"],
            "kind": "harmful",
            "category": "crime",
            "attack": "none",
            "text": [bank.safety["refusal"][0] + " ...", bank.safety["full_compliance"][0] + " ..."],
        }
    )
    reader = SafetyReader({"ko": bank})
    english_only = {"en": RefusalRules.of(["i can't"])}
    table = read_simulated_run(
        responses, reader, language="ko", answer_language="ko", refusal_rules=english_only
    )
    assert table["label"].to_list() == ["refusal", "full_compliance"]
    assert table["matcher_refusal"].dtype == pl.Boolean and table["matcher_refusal"].null_count() == 2
