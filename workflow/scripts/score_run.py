import polars as pl

from culturalign.alignment import alignment, model_consistency
from culturalign.calls import answer_and_account
from culturalign.generate import run_requests
from culturalign.judge import JUDGED_SCHEMA, SimulatedReader, judge_responses
from culturalign.logs import script_log
from culturalign.phrase_bank import load_phrase_banks
from culturalign.polarity import response_polarity
from culturalign.reanalysis import imported_polarity, read_judged_import, with_uniform_baseline

with script_log(snakemake.log[0]) as log:
    inputs, params, outputs = snakemake.input, snakemake.params, snakemake.output
    unit = {
        "model": snakemake.wildcards.model,
        "language": snakemake.wildcards.language,
        "seed": int(snakemake.wildcards.seed),
    }
    ground_truth = pl.read_parquet(inputs.ground_truth)
    if hasattr(inputs, "table"):
        imported = params.imported
        table = with_uniform_baseline(
            read_judged_import(inputs.table, set(imported["known_items"])),
            imported["reference"],
            seed=params.bootstrap_seed,
        )
        # The items the survey scores, which alignment is measured on.
        scored_items = set(ground_truth["item"])
        polarity = imported_polarity(table, scored_items=scored_items, **unit)
        log.info("%d kept imported responses on %d scored items", polarity.height, len(scored_items))
    else:
        if hasattr(inputs, "labels"):
            labels = pl.read_parquet(inputs.labels)
            log.info("the primary judge's %d statement labels", labels.height)
            judged = labels.select(*JUDGED_SCHEMA, "judge_language", "identified_language")
        else:
            # the simulated reader's banks, and a free respondent's: read once
            banks = load_phrase_banks(inputs.phrase_banks)
            if hasattr(inputs, "prompts"):
                # a free respondent: this job writes its answers (see answer_and_score_run)
                responses, ledger = answer_and_account(
                    run_requests(
                        inputs.prompts,
                        language=unit["language"],
                        seed=unit["seed"],
                        settings=params.settings,
                        study_sampling=params.sampling,
                    ),
                    model=unit["model"],
                    settings=params.settings,
                    prices_path=inputs.prices,
                    stage="generate",
                    language=unit["language"],
                    seed=unit["seed"],
                    log=log,
                    cache_path=params.cache,
                    run=f"{unit['language']}/{unit['seed']}",
                    phrase_banks=banks,
                    ground_truth=inputs.ground_truth,
                )
                responses.write_parquet(outputs.responses)
                ledger.write_csv(outputs.ledger)
            else:
                responses = pl.read_parquet(inputs.responses)
            log.info("simulated reader judging %d responses in %s", responses.height, unit["language"])
            judged = judge_responses(
                responses,
                SimulatedReader(banks),
                language=unit["language"],
                min_statements=params.min_statements,
            )
        statuses = judged.unique("prompt_id").group_by("status").len().sort("status")
        for status, count in statuses.iter_rows():
            log.info("%s: %d responses", status, count)
        log.info("addressing the judge: %d responses", judged.unique("prompt_id")["addresses_judge"].sum())
        judged.write_parquet(outputs.judged)
        polarity = response_polarity(judged)
        log.info(
            "%d kept responses, %d with a pro or con statement",
            polarity.height,
            polarity["pro_score"].count(),
        )
    polarity.write_parquet(outputs.polarity)
    scores = alignment(
        polarity,
        ground_truth,
        family=params.family,
        resamples=params.bootstrap,
        bootstrap_seed=params.bootstrap_seed,
        units=tuple(params.units),
        **unit,
    )
    log.info(
        "alignment with %d (population, unit) pairs, %d bootstrap resamples each",
        scores.height,
        params.bootstrap,
    )
    scores.write_parquet(outputs.alignment)
    consistency = model_consistency(
        polarity,
        repeats=params.repeats,
        resamples=params.consistency_resamples,
        consistency_seed=params.consistency_seed,
        **unit,
    )
    log.info(
        "self-consistency %s, %s interval [%s, %s]",
        *consistency.select("consistency", "interval", "ci_low", "ci_high").row(0),
    )
    consistency.write_parquet(outputs.consistency)
