from snakemake.utils import min_version

min_version("9.19")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/survey.smk"
include: "rules/translate.smk"
include: "rules/prompts.smk"
include: "rules/generate.smk"
include: "rules/judge.smk"
include: "rules/alignment.smk"
include: "rules/regression.smk"
include: "rules/cost.smk"
include: "rules/safety.smk"
include: "rules/safety_import.smk"
include: "rules/canary.smk"
include: "rules/report.smk"
include: "rules/audit.smk"


rule all:
    default_target: True
    input:
        final_targets(),
