from snakemake.utils import min_version

min_version("9.19")


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/survey.smk"


rule all:
    default_target: True
    input:
        "results/survey/ground_truth.parquet",
        "results/survey/consistency.parquet",
