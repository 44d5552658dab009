import warnings

import krippendorff
import numpy as np
import polars as pl
import pytest
from sklearn.metrics import cohen_kappa_score

from culturalign.agreement import (
    AGREEMENT_SCHEMA,
    LABELS,
    alpha_from_tables,
    cohen_kappa,
    contingency_table,
    disattenuate,
    gold_accuracy,
    judge_agreement,
    judge_reliability,
    kappa_from_tables,
    krippendorff_alpha_nominal,
    resampled_tables,
)


def random_pair(seed, n, shares, agree, missing):
    """Two label vectors with skewed marginals `shares`, b copying a with probability `agree`, and a
    share `missing` of each side missing (None)."""
    rng = np.random.default_rng(seed)
    a = rng.choice(LABELS, size=n, p=shares).astype(object)
    b = np.where(rng.random(n) < agree, a, rng.choice(LABELS, size=n, p=shares[::-1])).astype(object)
    a[rng.random(n) < missing] = None
    b[rng.random(n) < missing] = None
    return list(a), list(b)


PAIRS = {
    "hand": (
        ["pro", "pro", "con", "null", "pro", "con", "con", "null", "pro", "pro"],
        ["pro", "con", "con", "null", "pro", "con", "pro", "pro", "pro", None],
    ),
    "perfect, three categories": (["pro", "con", "null", "pro", None], ["pro", "con", "null", "pro", "con"]),
    "chance only": (["pro"] * 4 + ["con"] * 4, ["pro", "pro", "con", "con"] * 2),
    "one category each side": (["pro"] * 6, ["pro"] * 5 + ["con"]),
    "skewed": random_pair(0, 300, [0.8, 0.15, 0.05], 0.6, 0.0),
    "skewed, missing": random_pair(1, 400, [0.1, 0.7, 0.2], 0.5, 0.1),
    "uniform, missing": random_pair(2, 250, [1 / 3, 1 / 3, 1 / 3], 0.3, 0.2),
    "disagreeing": random_pair(3, 200, [0.5, 0.3, 0.2], 0.0, 0.05),
}


def both_present(a, b):
    kept = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    return [x for x, _ in kept], [y for _, y in kept]


@pytest.mark.parametrize("name", PAIRS)
def test_kappa_matches_sklearn(name):
    a, b = PAIRS[name]
    expected = cohen_kappa_score(*both_present(a, b), labels=list(LABELS))
    assert cohen_kappa(a, b) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("name", PAIRS)
def test_alpha_matches_krippendorff(name):
    a, b = PAIRS[name]
    code = {label: float(i) for i, label in enumerate(LABELS)}
    # The package gets the missing values as NaN: it drops unpairable units by itself.
    data = [[np.nan if x is None else code[x] for x in side] for side in (a, b)]
    expected = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
    assert krippendorff_alpha_nominal(a, b) == pytest.approx(expected, abs=1e-12)


def test_known_values():
    # Perfect agreement over several categories, and agreement exactly at chance level.
    assert cohen_kappa(*PAIRS["perfect, three categories"]) == 1.0
    assert krippendorff_alpha_nominal(*PAIRS["perfect, three categories"]) == 1.0
    assert cohen_kappa(*PAIRS["chance only"]) == pytest.approx(0.0)
    # Hand-worked: 4 units, observed 3/4; marginals a: pro 3, con 1; b: pro 2, con 2 -> expected 1/2.
    assert cohen_kappa(["pro", "pro", "pro", "con"], ["pro", "pro", "con", "con"]) == pytest.approx(0.5)


def test_undefined_when_both_use_one_category():
    a, b = ["pro"] * 8 + [None], ["pro"] * 8 + ["con"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(cohen_kappa_score(["pro"] * 8, ["pro"] * 8, labels=list(LABELS)))
        # The package refuses a one-value domain; with the full domain it gives 0/0.
        with pytest.raises(ValueError):
            krippendorff.alpha(reliability_data=[[0.0] * 8, [0.0] * 8], level_of_measurement="nominal")
        reference = krippendorff.alpha(
            reliability_data=[[0.0] * 8, [0.0] * 8], value_domain=[0, 1, 2], level_of_measurement="nominal"
        )
    assert np.isnan(reference)
    assert np.isnan(cohen_kappa(a, b))
    assert np.isnan(krippendorff_alpha_nominal(a, b))
    assert np.isnan(cohen_kappa([None, "pro"], ["con", None]))


def test_unknown_label_is_refused():
    with pytest.raises(ValueError, match="'maybe'"):
        cohen_kappa(["pro", "maybe"], ["pro", "con"])


def test_table_statistics_vectorise_over_resamples():
    a, b = PAIRS["skewed, missing"]
    a, b = both_present(a, b)
    a, b = np.array(a), np.array(b)
    draws = np.random.default_rng(5).integers(0, a.size, size=(40, a.size))
    tables = np.stack([contingency_table(a[d], b[d]) for d in draws])
    kappas, alphas = kappa_from_tables(tables), alpha_from_tables(tables)
    assert kappas.shape == alphas.shape == (40,)
    for d, kappa, alpha in zip(draws, kappas, alphas, strict=True):
        assert kappa == pytest.approx(cohen_kappa_score(a[d], b[d], labels=list(LABELS)), abs=1e-12)
        codes = [[LABELS.index(x) for x in side[d]] for side in (a, b)]
        expected = krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal")
        assert alpha == pytest.approx(expected, abs=1e-12)


def test_resampled_tables_have_the_bootstrap_distribution():
    table = np.array([[50, 5, 5], [10, 20, 0], [0, 5, 5]])
    replicates = resampled_tables(table, 20000, np.random.default_rng(0))
    assert replicates.shape == (20000, 3, 3)
    assert (replicates.sum(axis=(1, 2)) == 100).all()
    # A cell's count in a resample of n units is binomial(n, share).
    share = table / 100
    assert replicates.mean(axis=0) == pytest.approx(table, abs=0.2)
    assert replicates.var(axis=0) == pytest.approx(100 * share * (1 - share), rel=0.05, abs=0.05)


def test_bootstrap_matches_resampling_the_statements():
    # The same percentile interval as drawing statement indices with replacement, done the slow way.
    a, b = both_present(*PAIRS["skewed, missing"])
    table = contingency_table(a, b)
    codes = np.array([LABELS.index(x) * 3 + LABELS.index(y) for x, y in zip(a, b, strict=True)])
    draws = np.random.default_rng(8).integers(0, codes.size, size=(4000, codes.size))
    by_index = np.stack([np.bincount(codes[d], minlength=9).reshape(3, 3) for d in draws])
    by_cells = resampled_tables(table, 4000, np.random.default_rng(9))
    for statistic in (kappa_from_tables, alpha_from_tables):
        expected = np.percentile(statistic(by_index), [2.5, 50, 97.5])
        assert np.percentile(statistic(by_cells), [2.5, 50, 97.5]) == pytest.approx(expected, abs=0.01)


# --- a simulated process with a known kappa ---------------------------------------------------------


def theoretical_kappa(p, truth):
    """Kappa of two judges that each copy a true label (drawn from `truth`) with probability p and
    otherwise draw one of the k labels uniformly, independently of each other."""
    truth = np.asarray(truth)
    k = truth.size
    noise = (1 - p) / k
    observed = (p + noise) ** 2 + (k - 1) * noise**2  # both copy, or land on the same label
    marginal = p * truth + noise
    chance = (marginal**2).sum()
    return (observed - chance) / (1 - chance)


def simulated_labels(n, p, truth, seed, languages=("da",), judges=("judge-a", "judge-b")):
    rng = np.random.default_rng(seed)
    frames = []
    for language in languages:
        true = rng.choice(len(LABELS), size=n, p=truth)
        for judge in judges:
            copied = rng.random(n) < p
            label = np.where(copied, true, rng.integers(0, len(LABELS), size=n))
            frames.append(
                pl.DataFrame(
                    {
                        "judge": judge,
                        "model": "m",
                        "language": language,
                        "seed": 0,
                        "prompt_id": np.arange(n) // 10,
                        "statement_idx": np.arange(n) % 10 + 1,
                        "label": np.array(LABELS)[label],
                    }
                )
            )
    return pl.concat(frames)


TRUTH = (0.6, 0.3, 0.1)


def test_theoretical_kappa_of_the_process():
    # With a uniform truth the process' kappa is p^2; the skewed truth used below is checked by simulation.
    assert theoretical_kappa(0.7, [1 / 3] * 3) == pytest.approx(0.49)
    labels = simulated_labels(400_000, 0.7, TRUTH, seed=9)
    by_judge = [labels.filter(pl.col("judge") == j)["label"].to_list() for j in ("judge-a", "judge-b")]
    assert cohen_kappa(*by_judge) == pytest.approx(theoretical_kappa(0.7, TRUTH), abs=0.005)


@pytest.mark.parametrize(("p", "seed"), [(0.7, 0), (0.4, 1)])
def test_bootstrap_ci_covers_the_process_kappa_and_shrinks_with_n(p, seed):
    true_kappa = theoretical_kappa(p, TRUTH)
    widths = []
    for n in (2_000, 20_000):
        row = judge_agreement(simulated_labels(n, p, TRUTH, seed), bootstrap=1000, seed=seed).row(
            0, named=True
        )
        assert row["n"] == n
        # Both judges share the marginals, so alpha estimates the same quantity as kappa.
        assert row["kappa_low"] < true_kappa < row["kappa_high"]
        assert row["alpha_low"] < true_kappa < row["alpha_high"]
        assert row["kappa_low"] < row["kappa"] < row["kappa_high"]
        widths.append(row["kappa_high"] - row["kappa_low"])
    # Width goes as 1 / sqrt(n): ten times the statements, about a third of the width.
    assert widths[1] / widths[0] == pytest.approx(10**-0.5, rel=0.2)


def test_bootstrap_ci_has_its_nominal_coverage():
    # 100 independent replications as 100 languages, each with its own seeded stream.
    true_kappa = theoretical_kappa(0.6, TRUTH)
    languages = [f"l{i:03d}" for i in range(100)]
    result = judge_agreement(simulated_labels(1_000, 0.6, TRUTH, 3, languages), bootstrap=500, seed=3)
    assert result.height == 100
    covered = ((result["kappa_low"] < true_kappa) & (result["kappa_high"] > true_kappa)).sum()
    assert 88 <= covered <= 100  # 95 expected; binomial sd about 2


# --- judge_agreement -------------------------------------------------------------------------------


def three_judges():
    labels = simulated_labels(600, 0.7, TRUTH, 4, languages=("da", "nl"), judges=("c", "a", "b"))
    # Invalid outputs: judge c misses 30 Danish labels, and judge b did not judge 50 Dutch statements.
    invalid = (pl.col("judge") == "c") & (pl.col("language") == "da") & (pl.col("statement_idx") == 1)
    dropped = (pl.col("judge") == "b") & (pl.col("language") == "nl") & (pl.col("prompt_id") < 5)
    return labels.with_columns(
        pl.when(invalid & (pl.col("prompt_id") < 30)).then(None).otherwise(pl.col("label")).alias("label")
    ).filter(~dropped)


def test_one_row_per_language_and_pair():
    labels = three_judges()
    result = judge_agreement(labels, bootstrap=200, seed=0)
    assert result.schema == pl.Schema(AGREEMENT_SCHEMA)
    assert result.select("language", "judge_a", "judge_b").rows() == [
        (language, a, b) for language in ("da", "nl") for a, b in (("a", "b"), ("a", "c"), ("b", "c"))
    ]
    counts = {
        (r["language"], r["judge_a"], r["judge_b"]): (r["n"], r["missing"])
        for r in result.iter_rows(named=True)
    }
    assert counts[("da", "a", "b")] == (600, 0)
    assert counts[("da", "a", "c")] == counts[("da", "b", "c")] == (570, 30)
    assert counts[("nl", "a", "b")] == counts[("nl", "b", "c")] == (550, 0)
    assert counts[("nl", "a", "c")] == (600, 0)


def test_point_estimates_match_the_references():
    labels = three_judges()
    row = judge_agreement(labels, bootstrap=100, seed=0).filter(
        (pl.col("language") == "da") & (pl.col("judge_a") == "a") & (pl.col("judge_b") == "c")
    )
    paired = (
        labels.filter(pl.col("language") == "da", pl.col("judge") == "a")
        .join(
            labels.filter(pl.col("language") == "da", pl.col("judge") == "c"),
            on=["prompt_id", "statement_idx"],
        )
        .drop_nulls(["label", "label_right"])
    )
    a, c = paired["label"].to_list(), paired["label_right"].to_list()
    assert row["kappa"].item() == pytest.approx(cohen_kappa_score(a, c), abs=1e-12)
    assert row["agreement"].item() == pytest.approx(np.mean(np.array(a) == np.array(c)))
    codes = [[LABELS.index(x) for x in side] for side in (a, c)]
    expected = krippendorff.alpha(reliability_data=codes, level_of_measurement="nominal")
    assert row["alpha"].item() == pytest.approx(expected, abs=1e-12)


def test_reproducible_for_a_seed_and_different_for_another():
    labels = three_judges()
    first = judge_agreement(labels, bootstrap=300, seed=11)
    assert first.equals(
        judge_agreement(labels.sample(fraction=1.0, shuffle=True, seed=1), bootstrap=300, seed=11)
    )
    other = judge_agreement(labels, bootstrap=300, seed=12)
    estimates = ["n", "agreement", "kappa", "alpha"]
    assert first.select(estimates).equals(other.select(estimates))
    bounds = ["kappa_low", "kappa_high", "alpha_low", "alpha_high"]
    assert (first.select(bounds).to_numpy() != other.select(bounds).to_numpy()).mean() > 0.5


def test_large_input_runs_vectorised():
    result = judge_agreement(simulated_labels(20_000, 0.5, TRUTH, 6), bootstrap=1000, seed=0)
    assert result["n"].item() == 20_000
    assert result["kappa_low"].item() < theoretical_kappa(0.5, TRUTH) < result["kappa_high"].item()


def test_undefined_statistics_are_null_and_one_judge_gives_no_rows():
    labels = pl.DataFrame(
        {
            "judge": ["a"] * 4 + ["b"] * 4,
            "model": "m",
            "language": "da",
            "seed": 0,
            "prompt_id": "p",
            "statement_idx": [1, 2, 3, 4] * 2,
            "label": ["pro"] * 8,
        }
    )
    row = judge_agreement(labels, bootstrap=50, seed=0).row(0, named=True)
    assert row["n"] == 4 and row["agreement"] == 1.0
    assert row["kappa"] is None and row["kappa_low"] is None and row["alpha"] is None
    # Every output invalid: the label column is all null (dtype Null) and nothing is left to compare.
    invalid = judge_agreement(labels.with_columns(pl.lit(None).alias("label")), bootstrap=50, seed=0)
    assert invalid.select("n", "missing", "agreement", "kappa").row(0) == (0, 4, None, None)
    single = judge_agreement(labels.filter(pl.col("judge") == "a"), bootstrap=50, seed=0)
    assert single.height == 0 and single.schema == pl.Schema(AGREEMENT_SCHEMA)


def test_bad_labels_fail_early():
    labels = three_judges()
    with pytest.raises(ValueError, match="'Pro'"):
        judge_agreement(labels.with_columns(pl.lit("Pro").alias("label")), bootstrap=10, seed=0)
    with pytest.raises(ValueError, match="twice"):
        judge_agreement(pl.concat([labels, labels.head(1)]), bootstrap=10, seed=0)
    with pytest.raises(ValueError, match="statement_idx"):
        judge_agreement(labels.drop("statement_idx"), bootstrap=10, seed=0)


# --- gold_accuracy ---------------------------------------------------------------------------------


def planted_gold(n=1000, right=0.9, seed=0):
    """Gold statements, and judge `good` right on exactly `right` of them (wrong ones moved one label
    along), judge `coin` labelling at random with a few invalid outputs."""
    rng = np.random.default_rng(seed)
    gold = pl.DataFrame(
        {
            "item": rng.choice(["f118", "e035", "d059"], size=n),
            "language": "da",
            "statement": [f"statement {i}" for i in range(n)],
            "label": rng.choice(LABELS, size=n, p=TRUTH),
        }
    )
    wrong = rng.permutation(n) < round(n * (1 - right))
    shifted = (np.array([LABELS.index(x) for x in gold["label"]]) + 1) % 3
    good = np.where(wrong, np.array(LABELS)[shifted], gold["label"].to_numpy())
    coin = rng.choice(LABELS, size=n).astype(object)
    coin[: n // 50] = None
    judged = pl.concat(
        [
            gold.select("item", "language", "statement").with_columns(
                pl.lit(judge).alias("judge"), pl.Series("label", list(labels), dtype=pl.String)
            )
            for judge, labels in (("good", good), ("coin", coin))
        ]
    )
    return judged, gold


def test_gold_accuracy_recovers_a_planted_judge():
    judged, gold = planted_gold()
    result = gold_accuracy(judged, gold, bootstrap=1000, seed=0)
    assert result["judge"].to_list() == ["coin", "good"]
    good = result.row(1, named=True)
    assert (good["n"], good["n_gold"], good["missing"]) == (1000, 1000, 0)
    assert good["accuracy"] == pytest.approx(0.9)
    assert good["accuracy_low"] < 0.9 < good["accuracy_high"]
    # Binomial standard error sqrt(0.9 * 0.1 / 1000) ~ 0.0095: a 95 % interval about 0.037 wide.
    assert good["accuracy_high"] - good["accuracy_low"] == pytest.approx(0.037, abs=0.006)
    assert good["kappa"] == pytest.approx(
        cohen_kappa_score(judged.head(1000)["label"].to_list(), gold["label"].to_list()), abs=1e-12
    )
    assert good["kappa_low"] < good["kappa"] < good["kappa_high"]
    coin = result.row(0, named=True)
    assert (coin["n"], coin["missing"]) == (980, 20)
    assert coin["accuracy_low"] < 1 / 3 < coin["accuracy_high"]
    assert coin["kappa_low"] < 0 < coin["kappa_high"]


def test_gold_with_two_annotators_gives_the_human_ceiling_and_weighted_kappa():
    judged, gold = planted_gold(n=600, seed=4)
    rng = np.random.default_rng(9)
    # the second annotator moves a planted 15 % one label along; the first agrees with the gold
    moved = np.where(
        rng.random(600) < 0.15,
        np.roll(np.array(LABELS), -1)[[LABELS.index(x) for x in gold["label"]]],
        gold["label"].to_numpy(),
    )
    gold = gold.with_columns(label_1=pl.col("label"), label_2=pl.Series(moved))
    result = gold_accuracy(judged, gold, bootstrap=500, seed=0)
    good = result.filter(judge="good").row(0, named=True)
    ceiling = cohen_kappa_score(gold["label_1"].to_list(), gold["label_2"].to_list())
    assert good["human_human_kappa"] == pytest.approx(ceiling) and good["human_human_n"] == 600
    assert good["human_human_kappa_low"] < ceiling < good["human_human_kappa_high"]
    order = {"con": 0, "null": 1, "pro": 2}
    judge_labels = judged.filter(judge="good")["label"].to_list()
    weighted = cohen_kappa_score(
        [order[x] for x in judge_labels], [order[x] for x in gold["label"]], weights="linear"
    )
    assert good["kappa_linear"] == pytest.approx(weighted)
    assert good["kappa_linear_low"] < weighted < good["kappa_linear_high"]
    # without a second annotator there is no ceiling
    alone = gold_accuracy(judged, gold.drop("label_1", "label_2"), bootstrap=50, seed=0)
    assert alone["human_human_kappa"].null_count() == alone.height and (alone["human_human_n"] == 0).all()


def width(row):
    return row["accuracy_high"] - row["accuracy_low"]


def test_gold_bootstrap_resamples_gold_statements():
    judged, gold = planted_gold(n=300)
    good = judged.filter(pl.col("judge") == "good")
    # The same judged text three times (as identical simulated answers give) is still one gold unit:
    # the estimate is unchanged and the interval does not pretend to three times the data.
    once = gold_accuracy(good, gold, bootstrap=2000, seed=1).row(0, named=True)
    thrice = gold_accuracy(pl.concat([good] * 3), gold, bootstrap=2000, seed=1).row(0, named=True)
    assert (thrice["n"], thrice["n_gold"]) == (900, 300)
    assert thrice["accuracy"] == pytest.approx(once["accuracy"])
    assert width(thrice) == pytest.approx(width(once), rel=0.1)
    # Statements without gold are not counted; another language's gold does not match.
    unmatched = good.with_columns(pl.lit("nl").alias("language"))
    assert gold_accuracy(pl.concat([good, unmatched]), gold, bootstrap=10, seed=1)["n"].to_list() == [300]


def test_gold_with_conflicting_labels_fails():
    judged, gold = planted_gold(n=20)
    flipped = gold.head(1).with_columns(
        pl.lit("null" if gold["label"][0] != "null" else "pro").alias("label")
    )
    with pytest.raises(ValueError, match="conflicting"):
        gold_accuracy(judged, pl.concat([gold, flipped]), bootstrap=10, seed=0)
    # A repeated identical gold row is harmless.
    assert gold_accuracy(judged, pl.concat([gold, gold.head(3)]), bootstrap=10, seed=0)["n"].to_list() == [
        20,
        20,
    ]


# --- reliability and disattenuation ----------------------------------------------------------------


def test_reliability_is_the_mean_kappa_of_the_primary_judges_pairs():
    agreement = pl.DataFrame(
        {
            "language": ["da", "da", "da", "nl", "nl", "pt"],
            "judge_a": ["a", "a", "b", "a", "a", "b"],
            "judge_b": ["b", "c", "c", "b", "c", "c"],
            "kappa": [0.6, 0.8, 0.1, 0.5, None, 0.9],
        }
    )
    result = judge_reliability(agreement, "a")
    assert result.rows() == [("da", "a", pytest.approx(0.7), 2), ("nl", "a", 0.5, 1), ("pt", "a", None, 0)]
    assert judge_reliability(agreement, "c").row(0) == ("da", "c", pytest.approx(0.45), 2)


def test_disattenuate():
    assert disattenuate(0.4, 0.8) == pytest.approx(0.5)
    assert disattenuate(-0.3, 0.6) == pytest.approx(-0.5)
    assert disattenuate(0.9, 0.6) == 1.0  # clipped
    assert disattenuate(-0.9, 0.6) == -1.0
    assert np.isnan(disattenuate(0.4, 0.0))
    assert np.isnan(disattenuate(0.4, -0.2))
    assert np.isnan(disattenuate(0.4, None))
    corrected = disattenuate(np.array([0.2, 0.4, 0.5]), pl.Series([0.5, None, 0.25]))
    assert corrected[0] == pytest.approx(0.4) and np.isnan(corrected[1]) and corrected[2] == 1.0
