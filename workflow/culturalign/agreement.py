"""Agreement of the LLM judges: Cohen's kappa and Krippendorff's alpha between judges, accuracy
against hand-labelled gold statements, and the judge reliability that disattenuates self-consistency.

Every statistic here is a function of a k x k contingency table of two label vectors, so a bootstrap
draws all its resampled tables at once and evaluates them in one vectorised call. A statement counts
only where both labels are present: a missing label (the judge's output was invalid) drops the
statement from kappa, alpha, accuracy and raw agreement alike, and is counted in `missing`.
"""

import itertools
from collections.abc import Iterable

import numpy as np
import polars as pl

from culturalign.stats import percentile_ci, random_stream, resample_counts

LABELS = ("pro", "con", "null")
STATEMENT_KEY = ("model", "language", "seed", "prompt_id", "statement_idx")
GOLD_KEY = ("item", "language", "statement")

AGREEMENT_SCHEMA = {
    "language": pl.String,
    "judge_a": pl.String,
    "judge_b": pl.String,
    "n": pl.Int64,
    "missing": pl.Int64,
    "agreement": pl.Float64,
    "kappa": pl.Float64,
    "kappa_low": pl.Float64,
    "kappa_high": pl.Float64,
    "alpha": pl.Float64,
    "alpha_low": pl.Float64,
    "alpha_high": pl.Float64,
}
GOLD_SCHEMA = {
    "judge": pl.String,
    "language": pl.String,
    "n": pl.Int64,
    "n_gold": pl.Int64,
    "missing": pl.Int64,
    "accuracy": pl.Float64,
    "accuracy_low": pl.Float64,
    "accuracy_high": pl.Float64,
    "kappa": pl.Float64,
    "kappa_low": pl.Float64,
    "kappa_high": pl.Float64,
    "kappa_linear": pl.Float64,
    "kappa_linear_low": pl.Float64,
    "kappa_linear_high": pl.Float64,
    "human_human_kappa": pl.Float64,
    "human_human_kappa_low": pl.Float64,
    "human_human_kappa_high": pl.Float64,
    "human_human_n": pl.Int64,
}
# Stances in order, for weighted agreement: null sits between the two positions.
ORDERED_STANCES = ("con", "null", "pro")
# The two people's labels a gold file may carry beside the one they settled on (`label`).
ANNOTATOR_COLUMNS = ("label_1", "label_2")
RELIABILITY_SCHEMA = {
    "language": pl.String,
    "judge": pl.String,
    "reliability": pl.Float64,
    "n_pairs": pl.Int64,
}


def kappa_from_tables(tables: np.ndarray) -> np.ndarray:
    """Cohen's kappa of each contingency table in a stack (..., k, k) (rows: rater a, columns: rater b).

    NaN where kappa is undefined, i.e. the expected agreement is 1 (both raters used one and the same
    category, so the observed agreement is 1 too) or there are no units: sklearn's cohen_kappa_score
    returns NaN there (its default replace_undefined_by=nan)."""
    tables = np.asarray(tables, dtype=float)
    n = tables.sum(axis=(-2, -1))
    observed = np.trace(tables, axis1=-2, axis2=-1)
    chance = (tables.sum(axis=-1) * tables.sum(axis=-2)).sum(axis=-1)
    # Scaled by n^2, both terms are sums of integer counts, so "undefined" is an exact zero.
    denominator = n * n - chance
    return np.divide(
        n * observed - chance, denominator, out=np.full(denominator.shape, np.nan), where=denominator != 0
    )


def _ordinal_distances(coincidences: np.ndarray) -> np.ndarray:
    """Krippendorff's squared ordinal distance between every two categories of each coincidence
    matrix in a stack: (the values from one category to the other, less half of both ends)^2."""
    per_category = coincidences.sum(axis=-1)
    below = np.cumsum(per_category, axis=-1) - per_category  # values in lower categories
    k = per_category.shape[-1]
    low, high = np.minimum.outer(np.arange(k), np.arange(k)), np.maximum.outer(np.arange(k), np.arange(k))
    between = below[..., high] + per_category[..., high] - below[..., low]
    return (between - (per_category[..., low] + per_category[..., high]) / 2) ** 2


def alpha_from_tables(tables: np.ndarray, metric: str = "nominal") -> np.ndarray:
    """Krippendorff's alpha of two coders for each contingency table in a stack (..., k, k), nominal
    or ordinal (the categories in their order).

    With two coders and no missing values in a unit, the coincidence matrix is table + table.T. NaN
    where the expected disagreement is 0 (every value in one category) or there are no units; the
    `krippendorff` package gives NaN there when given the value domain, and refuses a one-value
    domain without it."""
    tables = np.asarray(tables, dtype=float)
    coincidences = tables + np.swapaxes(tables, -1, -2)
    k = tables.shape[-1]
    if metric == "nominal":
        distances = np.broadcast_to(1 - np.eye(k), coincidences.shape)
    elif metric == "ordinal":
        distances = _ordinal_distances(coincidences)
    else:
        raise ValueError(f"metric {metric!r}; expected nominal or ordinal")
    values = coincidences.sum(axis=(-2, -1))  # n: every unit pairs two values
    per_category = coincidences.sum(axis=-1)
    observed = (coincidences * distances).sum(axis=(-2, -1))
    expected = (per_category[..., :, None] * per_category[..., None, :] * distances).sum(axis=(-2, -1))
    ratio = np.divide(
        (values - 1) * observed, expected, out=np.full(expected.shape, np.nan), where=expected != 0
    )
    return 1 - ratio


def linear_kappa_from_tables(tables: np.ndarray) -> np.ndarray:
    """Cohen's kappa with linear weights (disagreement |i - j| / (k - 1) between the i-th and j-th
    of k ordered categories) of each contingency table in a stack (..., k, k); NaN where the
    expected disagreement is 0, as sklearn's cohen_kappa_score(weights="linear") gives."""
    tables = np.asarray(tables, dtype=float)
    k = tables.shape[-1]
    weights = np.abs(np.subtract.outer(np.arange(k), np.arange(k))) / (k - 1)
    n = tables.sum(axis=(-2, -1))
    chance = tables.sum(axis=-1)[..., :, None] * tables.sum(axis=-2)[..., None, :]
    observed = (tables * weights).sum(axis=(-2, -1)) * n
    expected = (chance * weights).sum(axis=(-2, -1))
    return 1 - np.divide(observed, expected, out=np.full(expected.shape, np.nan), where=expected != 0)


def accuracy_from_tables(tables: np.ndarray) -> np.ndarray:
    """Share of units on the diagonal of each table in a stack (..., k, k); NaN for an empty table."""
    tables = np.asarray(tables, dtype=float)
    n = tables.sum(axis=(-2, -1))
    observed = np.trace(tables, axis1=-2, axis2=-1)
    return np.divide(observed, n, out=np.full(n.shape, np.nan), where=n != 0)


def _codes(labels: Iterable, categories: tuple) -> np.ndarray:
    """Index of each label in `categories`, -1 where the label is missing (None or NaN)."""
    lookup = {category: index for index, category in enumerate(categories)}
    codes = []
    for label in labels:
        if label is None or (isinstance(label, float) and np.isnan(label)):
            codes.append(-1)
        elif label in lookup:
            codes.append(lookup[label])
        else:
            raise ValueError(f"label {label!r} is not one of {categories} (or missing)")
    return np.asarray(codes, dtype=np.int64)


def contingency_table(a: Iterable, b: Iterable, categories: tuple = LABELS) -> np.ndarray:
    """k x k counts of (a's label, b's label) over the units where both labels are present."""
    codes_a, codes_b = _codes(a, categories), _codes(b, categories)
    if codes_a.shape != codes_b.shape:
        raise ValueError(f"label vectors differ in length: {codes_a.size} and {codes_b.size}")
    return _table(codes_a, codes_b, len(categories))


def _table(codes_a: np.ndarray, codes_b: np.ndarray, k: int) -> np.ndarray:
    both = (codes_a >= 0) & (codes_b >= 0)
    return np.bincount(codes_a[both] * k + codes_b[both], minlength=k * k).reshape(k, k)


def cohen_kappa(a: Iterable, b: Iterable, categories: tuple = LABELS) -> float:
    """Cohen's kappa of two raters' labels; units where either label is missing are dropped."""
    return float(kappa_from_tables(contingency_table(a, b, categories)))


def krippendorff_alpha_nominal(a: Iterable, b: Iterable, categories: tuple = LABELS) -> float:
    """Krippendorff's alpha (nominal) of two coders; units where either label is missing are dropped
    (they are not pairable, as in Krippendorff's definition)."""
    return float(alpha_from_tables(contingency_table(a, b, categories)))


def resampled_tables(table: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """`resamples` bootstrap replicates (resamples x k x k) of a table over n units drawn with replacement.

    The statistics depend on a resample only through its cell counts, and the cell counts of n units
    drawn with replacement are multinomial(n, observed cell shares): drawing them directly is the same
    bootstrap at a cost independent of n."""
    table = np.asarray(table)
    n = int(table.sum())
    if n == 0:
        return np.zeros((resamples, *table.shape))
    return rng.multinomial(n, table.ravel() / n, size=resamples).reshape(resamples, *table.shape)


def _check(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    absent = [column for column in columns if column not in frame.columns]
    if absent:
        raise ValueError(f"{what}: missing columns {absent}; expected {list(columns)}")
    unknown = frame.filter(pl.col("label").is_not_null() & ~pl.col("label").cast(pl.String).is_in(LABELS))[
        "label"
    ]
    if unknown.len():
        raise ValueError(
            f"{what}: labels {sorted(unknown.unique())[:5]} are not one of {list(LABELS)} (or null)"
        )


def _label_code() -> pl.Expr:
    # An all-missing label column reads as dtype Null, which cannot hold the label strings.
    return (
        pl.col("label")
        .cast(pl.String)
        .replace_strict(LABELS, list(range(len(LABELS))), default=None, return_dtype=pl.Int64)
    )


def judge_agreement(
    labels: pl.DataFrame, *, bootstrap: int = 1000, seed: int = 0, confidence: float = 0.95
) -> pl.DataFrame:
    """Agreement of every pair of judges per language, over the statements both labelled.

    `labels`: judge, model, language, seed, prompt_id, statement_idx, label (pro/con/null, or null when
    the judge's output was invalid). One row per (language, judge_a < judge_b): n statements with both
    labels, `missing` statements both judged where either label is missing, raw agreement, Cohen's kappa
    and Krippendorff's alpha with percentile bootstrap CIs over statements (resampled with replacement,
    one seeded stream per language and pair). Undefined statistics are null."""
    _check(labels, ("judge", *STATEMENT_KEY, "label"), "judge labels")
    key = list(STATEMENT_KEY)
    duplicated = labels.filter(pl.struct("judge", *key).is_duplicated())
    if duplicated.height:
        raise ValueError(f"judge labels: a judge labels a statement twice: {duplicated.row(0, named=True)}")
    coded = labels.select("judge", *key, _label_code().alias("code"))
    k = len(LABELS)
    rows = []
    for judge_a, judge_b in itertools.combinations(sorted(coded["judge"].drop_nulls().unique()), 2):
        paired = (
            coded.filter(pl.col("judge") == judge_a)
            .drop("judge")
            .join(coded.filter(pl.col("judge") == judge_b).drop("judge"), on=key, suffix="_b")
        )
        for (language,), statements in paired.group_by("language"):
            codes_a = statements["code"].fill_null(-1).to_numpy()
            codes_b = statements["code_b"].fill_null(-1).to_numpy()
            table = _table(codes_a, codes_b, k)
            n = int(table.sum())
            replicates = resampled_tables(
                table, bootstrap, random_stream(seed, "agreement", language, judge_a, judge_b)
            )
            rows.append(
                (
                    language,
                    judge_a,
                    judge_b,
                    n,
                    statements.height - n,
                    float(accuracy_from_tables(table)),
                    float(kappa_from_tables(table)),
                    *percentile_ci(kappa_from_tables(replicates), confidence),
                    float(alpha_from_tables(table)),
                    *percentile_ci(alpha_from_tables(replicates), confidence),
                )
            )
    return (
        pl.DataFrame(rows, schema=list(AGREEMENT_SCHEMA.items()), orient="row")
        .sort("language", "judge_a", "judge_b")
        .with_columns(pl.col(pl.Float64).fill_nan(None))
    )


def _ordered(tables: np.ndarray) -> np.ndarray:
    """Tables over LABELS rearranged over ORDERED_STANCES (rows and columns)."""
    order = [LABELS.index(label) for label in ORDERED_STANCES]
    return tables[..., order, :][..., :, order]


def _annotator_ceiling(gold: pl.DataFrame, bootstrap: int, seed: int, confidence: float) -> dict[str, tuple]:
    """Per language, the two annotators' kappa (label_1 against label_2) with its percentile
    bootstrap CI over gold statements, and how many statements both labelled."""
    if not set(ANNOTATOR_COLUMNS) <= set(gold.columns):
        return {}
    ceilings = {}
    for (language,), statements in gold.group_by("language"):
        table = contingency_table(statements["label_1"].to_list(), statements["label_2"].to_list())
        replicates = resampled_tables(table, bootstrap, random_stream(seed, "gold annotators", language))
        ceilings[language] = (
            float(kappa_from_tables(table)),
            *percentile_ci(kappa_from_tables(replicates), confidence),
            int(table.sum()),
        )
    return ceilings


def gold_accuracy(
    labels: pl.DataFrame,
    gold: pl.DataFrame,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Accuracy, Cohen's kappa and linearly weighted kappa (on con < null < pro) of each judge
    against hand-labelled gold statements, per language; where the gold file has two annotators'
    labels (label_1, label_2) beside the one they settled on, their kappa: the ceiling a judge can
    be held to.

    `labels`: judge, item, language, statement, label; `gold`: item, language, statement, label
    [, label_1, label_2]. A judged statement is matched to the gold by (item, language, exact
    statement text). One row per (judge, language): n matched statements with a judge label,
    n_gold distinct gold statements among them, `missing` matched statements without a judge label,
    each statistic with its percentile bootstrap CI. The bootstrap resamples gold statements (with all
    their matched judged statements), because identical text, as simulated respondents write, is one
    hand-labelled unit, not several independent ones."""
    _check(labels, ("judge", *GOLD_KEY, "label"), "judge labels")
    _check(gold, (*GOLD_KEY, "label"), "gold labels")
    for column in set(ANNOTATOR_COLUMNS) & set(gold.columns):
        _check(gold.select(*GOLD_KEY, pl.col(column).alias("label")), (*GOLD_KEY, "label"), f"gold {column}")
    key = list(GOLD_KEY)
    if gold["label"].null_count():
        raise ValueError(f"gold labels: {gold['label'].null_count()} statements have no label")
    ceilings = _annotator_ceiling(gold.unique([*key, "label"]), bootstrap, seed, confidence)
    gold = gold.select(*key, "label").unique(maintain_order=True)
    conflicting = gold.filter(pl.struct(*key).is_duplicated())
    if conflicting.height:
        raise ValueError(f"gold labels: conflicting labels for {conflicting.row(0, named=True)}")
    gold = gold.select(*key, _label_code().alias("gold")).with_row_index("gold_id")
    matched = labels.select("judge", *key, _label_code().alias("code")).join(gold, on=key)
    k = len(LABELS)
    rows = []
    for (judge, language), statements in matched.group_by("judge", "language"):
        labelled = statements.drop_nulls("code")
        _, cluster = np.unique(labelled["gold_id"].to_numpy(), return_inverse=True)
        clusters = int(cluster.max()) + 1 if cluster.size else 0
        per_gold = np.zeros((clusters, k * k))
        np.add.at(per_gold, (cluster, labelled["code"].to_numpy() * k + labelled["gold"].to_numpy()), 1)
        table = per_gold.sum(axis=0).reshape(k, k)
        if clusters:
            counts = resample_counts(clusters, bootstrap, random_stream(seed, "gold", language, judge))
            replicates = (counts @ per_gold).reshape(bootstrap, k, k)
        else:
            replicates = np.zeros((bootstrap, k, k))
        rows.append(
            (
                judge,
                language,
                labelled.height,
                clusters,
                statements.height - labelled.height,
                float(accuracy_from_tables(table)),
                *percentile_ci(accuracy_from_tables(replicates), confidence),
                float(kappa_from_tables(table)),
                *percentile_ci(kappa_from_tables(replicates), confidence),
                float(linear_kappa_from_tables(_ordered(table))),
                *percentile_ci(linear_kappa_from_tables(_ordered(replicates)), confidence),
                *ceilings.get(language, (None, None, None, 0)),
            )
        )
    return (
        pl.DataFrame(rows, schema=list(GOLD_SCHEMA.items()), orient="row")
        .sort("judge", "language")
        .with_columns(pl.col(pl.Float64).fill_nan(None))
    )


def judge_reliability(agreement: pl.DataFrame, primary: str) -> pl.DataFrame:
    """Reliability of the primary judge's labels per language: the mean kappa of the pairs that include
    it (an inter-rater estimate of how much of its labelling is signal), and how many pairs had a kappa.

    Kappa is a statement-level reliability, while self-consistency correlates polarities averaged over
    several statements, whose reliability is higher (Spearman-Brown): correcting with it errs on the side
    of over-correction. Null where no pair with the primary judge has a kappa."""
    involving = (pl.col("judge_a") == primary) | (pl.col("judge_b") == primary)
    usable = pl.col("kappa").filter(involving & pl.col("kappa").is_not_null() & pl.col("kappa").is_not_nan())
    return (
        agreement.group_by("language")
        .agg(usable.mean().alias("reliability"), usable.len().alias("n_pairs"))
        .select("language", pl.lit(primary).alias("judge"), "reliability", "n_pairs")
        .cast(RELIABILITY_SCHEMA)
        .sort("language")
    )


def stepped_up(reliability, statements):
    """The Spearman-Brown reliability of an average over `statements` labels, each of `reliability`:
    m r / (1 + (m - 1) r). Arrays broadcast; NaN where either is missing."""
    reliability = np.asarray(reliability, dtype=float)
    statements = np.asarray(statements, dtype=float)
    return statements * reliability / (1 + (statements - 1) * reliability)


def disattenuate(consistency, reliability):
    """Self-consistency corrected for the judge's unreliability (Spearman's correction for attenuation).

    Self-consistency correlates two polarity vectors that the same judge labelled, so both carry its
    labelling noise and the observed correlation is the true one times sqrt(reliability * reliability),
    i.e. times the reliability. Sampling noise in either estimate can push the ratio past 1, hence the clip
    to [-1, 1]. NaN where the reliability is missing or <= 0, where no correction is defined. Scalars give a
    float, arrays an array."""
    consistency = np.asarray(consistency, dtype=float)
    reliability = np.asarray(reliability, dtype=float)
    positive = reliability > 0
    ratio = np.divide(
        consistency,
        reliability,
        out=np.full(np.broadcast(consistency, reliability).shape, np.nan),
        where=positive,
    )
    corrected = np.clip(ratio, -1, 1)
    return float(corrected) if corrected.ndim == 0 else corrected


# Columns of `ordered_agreement`: a labeller against a reference, on an ordered label scale.
ORDERED_AGREEMENT_SCHEMA = {
    "n": pl.Int64,
    "missing": pl.Int64,
    "accuracy": pl.Float64,
    "accuracy_low": pl.Float64,
    "accuracy_high": pl.Float64,
    "kappa": pl.Float64,
    "kappa_low": pl.Float64,
    "kappa_high": pl.Float64,
    "kappa_linear": pl.Float64,
    "kappa_linear_low": pl.Float64,
    "kappa_linear_high": pl.Float64,
    "alpha_nominal": pl.Float64,
    "alpha_ordinal": pl.Float64,
}


def ordered_agreement(
    reference: Iterable,
    labels: Iterable,
    categories: tuple,
    *,
    resamples: int,
    rng: np.random.Generator,
    confidence: float = 0.95,
) -> tuple[dict, np.ndarray]:
    """A labeller against a reference (people, or the project's labelled answers) on `categories`
    in their order: n units both labelled, `missing` units without the labeller's label (the
    reference's are complete), accuracy, Cohen's kappa and linearly weighted kappa with percentile
    bootstrap CIs over units, Krippendorff's alpha nominal and ordinal (ORDERED_AGREEMENT_SCHEMA; NaN
    where undefined); and the confusion matrix (rows: reference, columns: labeller)."""
    reference_codes, label_codes = _codes(reference, categories), _codes(labels, categories)
    table = _table(reference_codes, label_codes, len(categories))
    replicates = resampled_tables(table, resamples, rng)
    statistics = {"n": int(table.sum()), "missing": int(((reference_codes >= 0) & (label_codes < 0)).sum())}
    for name, of_tables in (
        ("accuracy", accuracy_from_tables),
        ("kappa", kappa_from_tables),
        ("kappa_linear", linear_kappa_from_tables),
    ):
        statistics[name] = float(of_tables(table))
        statistics[f"{name}_low"], statistics[f"{name}_high"] = percentile_ci(
            of_tables(replicates), confidence
        )
    statistics["alpha_nominal"] = float(alpha_from_tables(table))
    statistics["alpha_ordinal"] = float(alpha_from_tables(table, "ordinal"))
    return statistics, table
