# The audit bundle and its replay (culturalign.audit).
#
# `snakemake audit` writes results/audit/: the resolved config, the versions, the resources and
# input files, the completions, and a copy of every result with its hash in manifest.json.
# Replay: copy results/audit/ into an empty folder as audit/ and run
#   snakemake verify --snakefile REPO/Snakefile --directory FOLDER --configfile FOLDER/audit/config.yaml
# The bundle's config switches the replay on (audit.replay): the cache is restored from the bundle
# before any job starts, every job runs again from it, and `verify` compares every result.
from culturalign.audit import AuditError, code_difference, prepare_replay, read_manifest
from culturalign.report.start_page import START_PAGE_KEY, start_page_facts


localrules:
    audit,


rule audit:
    input:
        final_targets(),
    output:
        directory("results/audit"),
    log:
        "logs/audit.log",
    conda:
        "../envs/core.yaml"
    params:
        # the study's config as validated (a copy: the start page's facts join it below)
        config=dict(config),
        canary_date=CANARY_DATE,
        repo=str(REPO),
        cache=COMPLETION_CACHE,
        # what the study's rules write (a file they no longer write is no result of this study)
        result_patterns=sorted(
            {
                path.regex().pattern
                for rule in workflow.rules
                for path in rule.products()
            }
        ),
    script:
        "../workflow/scripts/audit.py"


if config["audit"]["replay"]:
    BUNDLE = Path(config["audit"]["replay"])
    try:
        REPLAYED = read_manifest(BUNDLE)
    except AuditError as error:
        raise WorkflowError(f"{CONFIG_SOURCE}: audit.replay: {error}") from None

    onstart:
        try:
            restored = prepare_replay(BUNDLE, REPLAYED, RESOURCES, COMPLETION_CACHE)
        except AuditError as error:
            raise WorkflowError(str(error)) from None
        logger.info(f"replaying {BUNDLE}/: {restored} completions, nothing is sent")
        if changed_code := code_difference(BUNDLE, REPO):
            logger.warning(changed_code)

    localrules:
        verify,

    rule verify:
        input:
            final_targets(),
            [
                path
                for path, kind in REPLAYED["results"].items()
                if kind in ("data", "bytes", "figure")
            ],
        output:
            "results/verify.csv",
        log:
            "logs/verify.log",
        conda:
            "../envs/core.yaml"
        params:
            bundle=BUNDLE,
        script:
            "../workflow/scripts/verify.py"


# The report's start page (workflow/report/workflow.rst) sees only the config: the bill, estimated
# and actual, and the audit bundle's manifest hash are read when `snakemake --report` parses the
# workflow, and wait there under a key no rule reads.
config[START_PAGE_KEY] = start_page_facts(Path("results"), final_targets())
