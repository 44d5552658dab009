"""Released completions judged again (safety.completions_import): answers someone else generated,
with the labels people gave them where they come with any, read from XSTest v2's completion files
or from a generic table, and labelled by our own labellers (the refusal matcher, the LLM safety
judges) to measure them against people, per (model, language).

Bad rows are skipped and reported with file, row and column, as the external prompt readers do."""

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import polars as pl
from statsmodels.stats.proportion import proportion_confint

from culturalign.agreement import ORDERED_AGREEMENT_SCHEMA, ordered_agreement
from culturalign.judge_injection import addresses_judge
from culturalign.safety import SafetyError
from culturalign.safety.external import (
    PROBLEM_SCHEMA,
    Check,
    jsonl_records,
    problems_frame,
    read_csv_strings,
    split_off_problems,
    stripped,
)
from culturalign.safety.judge import SAFETY_LABELS
from culturalign.safety.refusal import RefusalRules
from culturalign.safety.sets import KINDS
from culturalign.stats import random_stream

# Two people's labels and the one they settled on (XSTest v2: annotation_1, annotation_2, final_label).
HUMAN_COLUMNS = ("human_label", "human_label_1", "human_label_2")
COMPLETION_SCHEMA = {
    "model": pl.String,
    "language": pl.String,
    "prompt_id": pl.String,
    "kind": pl.String,
    "prompt": pl.String,
    "completion": pl.String,
    **dict.fromkeys(HUMAN_COLUMNS, pl.String),
}
COMPLETION_KEY = ["model", "language", "prompt_id"]
GENERIC_REQUIRED = ("model", "language", "prompt_id", "prompt", "completion", "kind")
XSTEST_REQUIRED = ("id", "type", "prompt", "completion")
XSTEST_LABELS = {
    "1_full_compliance": "full_compliance",
    "2_full_refusal": "refusal",
    "3_partial_refusal": "partial",
}
XSTEST_HUMAN = {
    "final_label": "human_label",
    "annotation_1": "human_label_1",
    "annotation_2": "human_label_2",
}
# XSTest's unsafe prompts are the contrasts of its safe ones (`contrast_homonyms`, ...).
XSTEST_UNSAFE_PREFIX = "contrast_"
MATCHER = "matcher"
HUMAN = "human"


def _label_checks(columns: Sequence[str], allowed: Sequence[str]) -> list[Check]:
    return [
        Check(
            column,
            pl.col(column).is_not_null() & ~pl.col(column).is_in(list(allowed)),
            pl.format(f"label '{{}}'; expected one of {', '.join(allowed)} or nothing", pl.col(column)),
        )
        for column in columns
    ]


def _completions(
    frame: pl.DataFrame, path: str | Path, checks: list[Check]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The rows of `frame` (COMPLETION_SCHEMA and `row`, labels not yet mapped) that pass the
    common checks and `checks`, and the problems of the others."""
    common = [
        Check(column, pl.col(column).is_null(), f"missing or empty {column}")
        for column in ("model", "language", "prompt_id", "prompt", "completion")
    ]
    kind = Check(
        "kind",
        pl.col("kind").is_null() | ~pl.col("kind").is_in(list(KINDS)),
        pl.format("kind '{}'; expected harmful or benign", pl.col("kind").fill_null("")),
    )
    completions, problems = split_off_problems(
        frame, path, [*common, kind, *checks], unique_key=COMPLETION_KEY
    )
    return completions.select(list(COMPLETION_SCHEMA)).cast(COMPLETION_SCHEMA), problems


def read_xstest_completions(
    path: str | Path, model: str, language: str = "en"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One model's XSTest v2 completion file (id, type, prompt, completion, annotation_1,
    annotation_2, agreement, final_label): its completions in COMPLETION_SCHEMA (a `contrast_*`
    type is harmful, any other benign; labels 1_full_compliance, 2_full_refusal and
    3_partial_refusal as full_compliance, refusal and partial), and the problems of the rows skipped."""
    frame = read_csv_strings(path, XSTEST_REQUIRED)
    labels = {
        human: stripped(column) if column in frame.columns else pl.lit(None, pl.String)
        for column, human in XSTEST_HUMAN.items()
    }
    kinds = (
        pl.when(pl.col("type").str.starts_with(XSTEST_UNSAFE_PREFIX))
        .then(pl.lit("harmful"))
        .otherwise(pl.lit("benign"))
    )
    table = frame.select(
        "row",
        pl.lit(model, pl.String).alias("model"),
        pl.lit(language, pl.String).alias("language"),
        stripped("id").alias("prompt_id"),
        pl.when(stripped("type").is_not_null()).then(kinds).alias("kind"),
        stripped("prompt"),
        stripped("completion"),
        *(label.alias(human) for human, label in labels.items()),
    )
    # XSTest's columns are named in the problems, as the file names them
    checks = [
        Check(
            column,
            pl.col(human).is_not_null() & ~pl.col(human).is_in(list(XSTEST_LABELS)),
            pl.format(f"label '{{}}'; expected one of {', '.join(XSTEST_LABELS)}", pl.col(human)),
        )
        for column, human in XSTEST_HUMAN.items()
    ]
    completions, problems = _completions(table, path, checks)
    mapped = completions.with_columns(
        pl.col(column).replace_strict(XSTEST_LABELS, default=None) for column in HUMAN_COLUMNS
    )
    return mapped, problems.with_columns(pl.col("column").replace({"prompt_id": "id", "kind": "type"}))


def read_completions(path: str | Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A generic completions table, CSV or JSONL (by its suffix), with the columns model, language,
    prompt_id, prompt, completion, kind (harmful or benign) and optionally human_label,
    human_label_1 and human_label_2 (full_compliance, partial or refusal): its completions in
    COMPLETION_SCHEMA, and the problems of the rows skipped."""
    fields = (*GENERIC_REQUIRED, *HUMAN_COLUMNS)
    if Path(path).suffix == ".jsonl":
        records, line_problems = jsonl_records(path, fields, numbered="prompt_id")
        frame = pl.DataFrame(
            records, schema={"row": pl.Int64, "mistyped": pl.String, **dict.fromkeys(fields, pl.String)}
        )
        mistyped = [Check(pl.col("mistyped"), pl.col("mistyped").is_not_null(), "expected a string")]
    else:
        frame = read_csv_strings(path, GENERIC_REQUIRED)
        frame = frame.with_columns(
            pl.lit(None, pl.String).alias(column) for column in HUMAN_COLUMNS if column not in frame.columns
        )
        line_problems, mistyped = [], []
    table = frame.select(
        "row",
        *(stripped(column) for column in GENERIC_REQUIRED),
        *(stripped(column).str.to_lowercase() for column in HUMAN_COLUMNS),
        *(["mistyped"] if mistyped else []),
    )
    completions, problems = _completions(
        table, path, [*mistyped, *_label_checks(HUMAN_COLUMNS, SAFETY_LABELS)]
    )
    lines = problems_frame(
        path, pl.DataFrame(line_problems, schema={"row": pl.Int64, "column": pl.String, "problem": pl.String})
    )
    return completions, pl.concat([lines, problems]).sort("row", maintain_order=True)


def imported_completions(sources: Sequence[Mapping[str, str]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every source of safety.completions_import ({path, format: xstest or completions, model,
    language}; an XSTest file's model defaults to its file's stem), and their problems. A
    (model, language, prompt_id) given by two sources is an error."""
    frames, problems = [pl.DataFrame(schema=COMPLETION_SCHEMA)], [pl.DataFrame(schema=PROBLEM_SCHEMA)]
    for source in sources:
        path = source["path"]
        if source["format"] == "xstest":
            completions, skipped = read_xstest_completions(
                path, source.get("model") or Path(path).stem, source.get("language", "en")
            )
        elif source["format"] == "completions":
            completions, skipped = read_completions(path)
        else:
            raise SafetyError(f"{path}: unknown format {source['format']!r}; expected xstest or completions")
        frames.append(completions)
        problems.append(skipped)
    completions = pl.concat(frames)
    repeated = completions.filter(pl.struct(COMPLETION_KEY).is_duplicated())
    if repeated.height:
        first = "/".join(repeated.row(0, named=True)[key] for key in COMPLETION_KEY)
        raise SafetyError(
            f"safety.completions_import: {first} (model/language/prompt_id) is in more than one file"
        )
    return completions, pl.concat(problems)


def matcher_labels(completions: pl.DataFrame, rules: Mapping[str, RefusalRules]) -> pl.Series:
    """The refusal matcher's label of each completion, in its language; null where the language
    has no refusal phrases."""
    labels = [
        rules[language].label(text) if language in rules else None
        for language, text in completions.select("language", "completion").iter_rows()
    ]
    return pl.Series(MATCHER, labels, dtype=pl.String)


HUMAN_AGREEMENT_SCHEMA = {
    "model": pl.String,
    "language": pl.String,
    "labeller": pl.String,
    **ORDERED_AGREEMENT_SCHEMA,
    "human_human_kappa": pl.Float64,
    "human_human_kappa_low": pl.Float64,
    "human_human_kappa_high": pl.Float64,
    "human_human_n": pl.Int64,
    "note": pl.String,
}
NO_CEILING = "no completion labelled by two people: no human ceiling"
UNDEFINED_AGREEMENT = "kappa or alpha undefined: one label throughout, or nothing labelled"
CONFUSION_SCHEMA = {
    "model": pl.String,
    "language": pl.String,
    "labeller": pl.String,
    "human_label": pl.String,
    "label": pl.String,
    "n": pl.Int64,
}


def labelled_completions(
    completions: pl.DataFrame, matcher: pl.Series, judges: Mapping[str, pl.DataFrame]
) -> pl.DataFrame:
    """results/safety/imported_labels.parquet: each completion's key, kind and human labels, whether
    it addresses its judge (culturalign.judge_injection), and a label column per labeller:
    `matcher`, then each judge's slug (its labels: model, language, prompt_id, label; null where
    its answer was unusable)."""
    table = completions.select(
        *COMPLETION_KEY,
        "kind",
        *HUMAN_COLUMNS,
        pl.col("completion").map_elements(addresses_judge, return_dtype=pl.Boolean).alias("addresses_judge"),
    ).with_columns(matcher.alias(MATCHER))
    for judge, labels in judges.items():
        table = table.join(
            labels.select(*COMPLETION_KEY, pl.col("label").alias(judge)), on=COMPLETION_KEY, how="left"
        )
    return table


def human_agreement(
    labelled: pl.DataFrame,
    labellers: Sequence[str],
    *,
    resamples: int = 1000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Each labeller against the people's label (`human_label`), per (model, language) over the
    completions people labelled: ORDERED_AGREEMENT_SCHEMA on the ordered scale full_compliance <
    partial < refusal, beside the two annotators' kappa where both labelled (the ceiling a labeller
    can be held to), each CI a percentile bootstrap over completions; and the confusion matrices
    (CONFUSION_SCHEMA). A labeller's unusable answers count in `missing`, never as a label."""
    rows, confusion = [], []
    human = labelled.filter(pl.col("human_label").is_not_null())
    for (model, language), group in human.group_by("model", "language", maintain_order=True):
        both = group.filter(pl.col("human_label_1").is_not_null() & pl.col("human_label_2").is_not_null())
        ceiling, _ = ordered_agreement(
            both["human_label_1"].to_list(),
            both["human_label_2"].to_list(),
            SAFETY_LABELS,
            resamples=resamples,
            rng=random_stream(seed, "human ceiling", model, language),
            confidence=confidence,
        )
        for labeller in labellers:
            statistics, table = ordered_agreement(
                group["human_label"].to_list(),
                group[labeller].to_list(),
                SAFETY_LABELS,
                resamples=resamples,
                rng=random_stream(seed, "human agreement", model, language, labeller),
                confidence=confidence,
            )
            rows.append(
                {"model": model, "language": language, "labeller": labeller, **statistics}
                | {
                    "human_human_kappa": ceiling["kappa"],
                    "human_human_kappa_low": ceiling["kappa_low"],
                    "human_human_kappa_high": ceiling["kappa_high"],
                    "human_human_n": ceiling["n"],
                    "note": "; ".join(
                        note
                        for note, applies in (
                            (
                                UNDEFINED_AGREEMENT,
                                any(np.isnan([statistics["kappa"], statistics["alpha_ordinal"]])),
                            ),
                            (NO_CEILING, ceiling["n"] == 0),
                        )
                        if applies
                    )
                    or None,
                }
            )
            confusion += [
                (model, language, labeller, truth, label, int(table[row, column]))
                for row, truth in enumerate(SAFETY_LABELS)
                for column, label in enumerate(SAFETY_LABELS)
            ]
    agreement = pl.DataFrame(rows, schema=HUMAN_AGREEMENT_SCHEMA).with_columns(
        pl.col(pl.Float64).fill_nan(None)
    )
    return agreement.sort("model", "language", "labeller"), pl.DataFrame(
        confusion, schema=CONFUSION_SCHEMA, orient="row"
    )


def labeller_rates(
    labelled: pl.DataFrame, labellers: Sequence[str], confidence: float = 0.95
) -> pl.DataFrame:
    """results/safety/labeller_rates.csv: per (model, language, labeller, kind) the share of
    completions each labeller (and `human`, the people's label) calls full_compliance, partial and
    refusal, each with its Wilson score interval over the completions it labelled (`n`);
    `unusable` counts those it gave no usable label (all of them: no rate, said in `note`)."""
    frames = []
    for labeller in [HUMAN, *labellers]:
        column = "human_label" if labeller == HUMAN else labeller
        counts = labelled.group_by("model", "language", "kind", maintain_order=True).agg(
            pl.col(column).is_not_null().sum().cast(pl.Int64).alias("n"),
            pl.col(column).is_null().sum().cast(pl.Int64).alias("unusable"),
            *((pl.col(column) == label).sum().cast(pl.Int64).alias(label) for label in SAFETY_LABELS),
        )
        frames.append(counts.with_columns(labeller=pl.lit(labeller)))
    counts = pl.concat(frames)
    n = counts["n"].to_numpy()
    columns = []
    for label in SAFETY_LABELS:
        hits = counts[label].to_numpy()
        low, high = proportion_confint(hits, np.maximum(n, 1), alpha=1 - confidence, method="wilson")
        empty = n == 0
        columns += [
            pl.Series(label, np.where(empty, np.nan, hits / np.maximum(n, 1))),
            pl.Series(f"{label}_ci_low", np.where(empty, np.nan, low)),
            pl.Series(f"{label}_ci_high", np.where(empty, np.nan, high)),
        ]
    rates = counts.select("model", "language", "labeller", "kind", "n", "unusable").with_columns(
        *columns, note=pl.when(pl.col("n") == 0).then(pl.lit("no usable label: no rate"))
    )
    return rates.with_columns(pl.col(pl.Float64).fill_nan(None)).sort("model", "language", "labeller", "kind")
