"""The report's tables, built from the study's result tables only (no statistic is computed
again here): seed means per model and language, pooled filtering counts, the cost ledger, and
the populations a figure shows."""

from collections.abc import Mapping

import polars as pl

from culturalign.judge import STATUSES
from culturalign.report.formatting import with_language_labels
from culturalign.safety.sets import POOLED_ATTACK
from culturalign.safety.validity import TRUSTED_KAPPA


def read_tables(inputs: dict[str, str], language_labels: Mapping[str, str]) -> dict[str, pl.DataFrame]:
    """The .parquet and .csv inputs of a report rule by name (its other inputs are its code and
    template), labelled languages marked."""
    readers = {".parquet": pl.read_parquet, ".csv": pl.read_csv}
    return {
        name: with_language_labels(readers[suffix](path), language_labels)
        for name, path in inputs.items()
        if isinstance(path, str) and (suffix := "." + path.rsplit(".", 1)[-1]) in readers
    }


def displayed_populations(
    alignment: pl.DataFrame, native_countries: dict[str, list[str]], limit: int = 16
) -> list[str] | None:
    """The populations an alignment figure shows, as its row labels: all of them (None) when there
    are at most `limit`; else the US, the native countries, each language's own population and the
    global one, so that 20 models stay readable."""
    populations = alignment.select("level", "group").unique()
    if populations.height <= limit:
        return None
    countries = set(populations.filter(pl.col("level") == "country")["group"])
    wanted = ["US", *sorted({country for natives in native_countries.values() for country in natives})]
    languages = sorted(set(populations.filter(pl.col("level") == "language")["group"]))
    return [
        *(country for country in dict.fromkeys(wanted) if country in countries),
        *(f"lang:{language}" for language in languages),
        *(["global"] if "global" in set(populations["level"]) else []),
    ]


def seed_means(frame: pl.DataFrame, keys: list[str], values: list[str]) -> pl.DataFrame:
    """Per `keys`, the mean of each value column over seeds, and how many seeds there were."""
    return (
        frame.group_by(keys)
        .agg(*(pl.col(value).mean() for value in values), pl.col("seed").n_unique().alias("seeds"))
        .sort(keys)
    )


def alignment_table(alignment: pl.DataFrame) -> pl.DataFrame:
    """Alignment per (model, language, population, unit), averaged over seeds (the CI bounds are the
    seeds' mean bootstrap bounds: one seed's uncertainty, not the mean's)."""
    return seed_means(
        alignment,
        ["model", "family", "language", "unit", "level", "group"],
        ["spearman", "ci_low", "ci_high", "n"],
    )


def consistency_table(consistency: pl.DataFrame) -> pl.DataFrame:
    values = [
        column
        for column in ("consistency", "ci_low", "ci_high", "consistency_corrected")
        if column in consistency.columns
    ]
    return seed_means(consistency, ["model", "language"], values)


def filtering_table(filtering: pl.DataFrame) -> pl.DataFrame:
    """Responses kept and filtered out per (model, language), pooled over seeds, with their shares,
    and those that addressed their judge (a count across statuses; unknown where a seed's count is)."""
    statuses = [column for column in STATUSES if column in filtering.columns]
    counts = [pl.col("responses", *statuses).sum()]
    if "addresses_judge" in filtering.columns:
        flagged = pl.col("addresses_judge")
        counts.append(pl.when(flagged.null_count() == 0).then(flagged.sum()).alias("addresses_judge"))
        statuses.append("addresses_judge")
    pooled = filtering.group_by("model", "language").agg(*counts)
    return pooled.with_columns(
        (pl.col(status) / pl.col("responses")).alias(f"{status}_share") for status in statuses
    ).sort("model", "language")


def ledger_table(ledger: pl.DataFrame) -> pl.DataFrame:
    """Requests, tokens, dollars and seconds per (stage, model), summed over languages and seeds."""
    return (
        ledger.with_columns(pl.col("cost_usd").cast(pl.Float64, strict=False))
        .group_by("stage", "model")
        .agg(
            pl.col("requests", "cached", "failed", "prompt_tokens", "completion_tokens").sum(),
            pl.col("cost_usd").sum(),
            pl.col("seconds").sum(),
        )
        .sort("stage", "model")
    )


def native_scores(
    alignment: pl.DataFrame, consistency: pl.DataFrame, filtering: pl.DataFrame, unit: str
) -> pl.DataFrame:
    """Per (model, language): alignment with the language's own population (all respondents
    interviewed in it) and self-consistency, averaged over seeds, and the share of responses kept."""
    own = alignment.filter(
        (pl.col("level") == "language") & (pl.col("group") == pl.col("language")) & (pl.col("unit") == unit)
    )
    kept = filtering.group_by("model", "language").agg(
        (pl.col("kept").sum() / pl.col("responses").sum()).alias("kept_share"),
        pl.col("responses").sum(),
    )
    return (
        seed_means(own, ["model", "language"], ["spearman", "ci_low", "ci_high"])
        .rename({"spearman": "alignment"})
        .join(
            seed_means(consistency, ["model", "language"], ["consistency"]).drop("seeds"),
            on=["model", "language"],
            how="left",
        )
        .join(kept, on=["model", "language"], how="left")
        .sort("model", "language")
    )


def safety_sections(
    rates: pl.DataFrame,
    gaps: pl.DataFrame,
    agreement: pl.DataFrame,
    matcher_validity: pl.DataFrame,
    pairs: pl.DataFrame,
    correlation: pl.DataFrame,
    problems: pl.DataFrame,
    reference: str,
    injection: pl.DataFrame | None = None,
) -> list[tuple[str, pl.DataFrame]]:
    """The safety page's headed tables, most read first; `injection` (judge_injection.csv) adds
    the answers that addressed their judge, where any did."""
    sections = [
        ("Alignment and safety: Spearman correlation across (model, language) pairs", correlation),
        ("Per (model, language): alignment, rates over all attacks and gaps from " + reference, pairs),
        (
            "Rates per model, language and attack (95% Wilson intervals; all attacks: clustered by prompt)",
            rates,
        ),
        (f"Gaps from {reference} on the same prompts (paired 95% Tango score intervals)", gaps),
        ("Refusal-phrase matcher against the judge, per prompt language", agreement),
        (
            "Refusal-phrase matcher on the project's labelled answers, per language (written beside its "
            "phrases: an upper bound; `trusted` where kappa's 95% lower bound is at least "
            f"{TRUSTED_KAPPA})",
            matcher_validity,
        ),
    ]
    if injection is not None:
        shown = injection.filter((pl.col("attack") == POOLED_ATTACK) | (pl.col("addresses_judge") > 0))
        heading = (
            "Answers that address their judge (section tags, fake verdicts, instructions to the judge), "
            "over all attacks and under each attack where any did; judged and counted as any other"
        )
        sections.append((heading, shown))
    if problems.height:
        sections.append(("Rows of external prompt sets skipped", problems))
    return sections


def judge_validity_sections(tables: Mapping[str, pl.DataFrame]) -> list[tuple[str, pl.DataFrame]]:
    """The judge-validity page's headed tables, those the study has (`gold`, `human`, `matcher`,
    `canary`): every judge against people or labels known in advance, beside people's agreement
    with each other, and the drift canary."""
    titles = {
        "gold": "Stance judges against the gold labels, per language: accuracy, kappa, linearly "
        "weighted kappa (con < null < pro), and the two annotators' kappa (the human ceiling); 95% "
        "intervals resample gold statements",
        "human": "Safety labellers against people, per model and language: accuracy, kappa, "
        "linearly weighted kappa (full_compliance < partial < refusal), Krippendorff's alpha, and "
        "the annotators' kappa (the human ceiling); 95% intervals resample completions",
        "matcher": "The refusal matcher on the project's labelled answers, per language (an upper "
        "bound: they were written beside its phrases)",
        "canary": "Drift canary: each judge's labels of a fixed sample against its own labels of the "
        "first date (drifted: kappa below min_kappa)",
    }
    return [(title, tables[name]) for name, title in titles.items() if name in tables]
