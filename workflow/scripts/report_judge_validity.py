from pathlib import Path

from culturalign.logs import script_log
from culturalign.report.pages import tables_page
from culturalign.report.tables import judge_validity_sections, read_tables

with script_log(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    tables = read_tables(dict(inputs.items()), params.language_labels)
    sections = judge_validity_sections(tables)
    template = Path(inputs.template).read_text(encoding="utf-8")
    page = tables_page(template, "Judges against people", sections, params.notes)
    Path(snakemake.output.tables).write_text(page, encoding="utf-8")
    log.info("judge validity: %d tables", len(sections))
