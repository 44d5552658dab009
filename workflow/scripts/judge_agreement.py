from culturalign.agreement import gold_accuracy, judge_agreement
from culturalign.io import read_table, stack_runs
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    params = snakemake.params
    labels = stack_runs(snakemake.input.labels, params.runs).drop_nulls("statement_idx")
    agreement = judge_agreement(labels, bootstrap=params.bootstrap, seed=params.seed)
    log.info("agreement of %d (language, judge pair) rows from %d labels", agreement.height, labels.height)
    agreement.write_csv(snakemake.output.agreement)
    if snakemake.input.gold:
        gold = gold_accuracy(
            labels, read_table(snakemake.input.gold), bootstrap=params.bootstrap, seed=params.seed
        )
        log.info("accuracy against %s for %d (judge, language) rows", snakemake.input.gold, gold.height)
        gold.write_csv(snakemake.output.gold)
