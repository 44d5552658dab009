"""A model's answers to one language's safety prompts under one attack, with their ledger row."""

import logging
from pathlib import Path

import polars as pl

from culturalign.calls import RESPONSE_SCHEMA, answer_and_account, sampling_parameters
from culturalign.safety.prompts import safety_requests

SAFETY_RESPONSE_SCHEMA = {
    "prompt_id": pl.String,
    "kind": pl.String,
    "category": pl.String,
    "attack": pl.String,
    **{column: dtype for column, dtype in RESPONSE_SCHEMA.items() if column not in ("prompt_id", "item")},
}


def answer_safety_run(
    prompts: pl.DataFrame,
    *,
    model: str,
    settings: dict,
    language: str,
    attack: str,
    sampling: dict,
    prices_path: str | Path,
    log: logging.Logger,
    **answering,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The answers of one (model, language, attack) run to the language's safety prompts under the
    attack (SAFETY_RESPONSE_SCHEMA), and its ledger row; `answering` as culturalign.calls.answer_run
    takes it."""
    attacked = prompts.filter(attack=attack)
    requests = safety_requests(
        attacked, attack=attack, settings=settings, parameters=sampling_parameters(sampling, settings)
    )
    log.info(
        "%s (%s backend): %d safety prompts in %s, attack %s",
        model,
        settings["backend"],
        len(requests),
        language,
        attack,
    )
    responses, ledger = answer_and_account(
        requests,
        model=model,
        settings=settings,
        prices_path=prices_path,
        stage=f"safety:{attack}",
        language=language,
        seed=None,
        log=log,
        run=f"safety/{language}/{attack}",
        **answering,
    )
    answers = responses.drop("item").with_columns(attacked.select("kind", "category", "attack"))
    return answers.select(list(SAFETY_RESPONSE_SCHEMA)), ledger
