from culturalign.io import stack_runs
from culturalign.judge import language_fidelity
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    judged = stack_runs(snakemake.input, snakemake.params.runs)
    fidelity = language_fidelity(judged, snakemake.params.min_statements)
    log.info("language fidelity of %d (model, language) pairs", fidelity.height)
    fidelity.write_csv(snakemake.output[0])
