from culturalign.logs import script_log
from culturalign.safety.prompts import language_safety_prompts

with script_log(snakemake.log[0]) as log:
    language, params = snakemake.wildcards.language, snakemake.params
    prompts, problems = language_safety_prompts(
        snakemake.input.get("safety_set"),
        language,
        params.attacks,
        builtin=params.builtin,
        external=params.external,
    )
    for kind, count in prompts.filter(attack="none").group_by("kind").len().sort("kind").iter_rows():
        log.info("%s: %d %s prompts under %d attacks", language, count, kind, len(params.attacks))
    for file, count in problems.group_by("file").len().sort("file").iter_rows():
        log.warning("%s: %d rows skipped (see %s)", file, count, snakemake.output.problems)
    prompts.write_parquet(snakemake.output.prompts)
    problems.write_csv(snakemake.output.problems)
