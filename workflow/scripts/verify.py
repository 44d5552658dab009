from pathlib import Path

from culturalign.audit import AuditError, differences_table, read_manifest, result_differences
from culturalign.logs import script_log

with script_log(snakemake.log[0]) as log:
    bundle = Path(snakemake.params.bundle)
    outcomes = result_differences(bundle, read_manifest(bundle))
    differing = [outcome for outcome in outcomes if outcome["difference"]]
    for outcome in differing:
        log.error("%s: %s", outcome["path"], outcome["difference"])
    table = differences_table(outcomes)
    checks = table["check"].value_counts(sort=True).iter_rows()
    log.info("%d results: %s", len(outcomes), ", ".join(f"{count} {check}" for check, count in checks))
    if differing:
        shown = "\n".join(f"{outcome['path']}: {outcome['difference']}" for outcome in differing[:10])
        raise AuditError(
            f"{len(differing)} of {len(outcomes)} results differ from the audit bundle {bundle}/ "
            f"(all in {snakemake.log[0]}):\n{shown}"
        )
    table.write_csv(snakemake.output[0])
