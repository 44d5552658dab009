from pathlib import Path

from culturalign.logs import script_log
from culturalign.report.pages import tables_page
from culturalign.report.registry import TABLE_PAGES, entry_named
from culturalign.report.tables import read_tables

with script_log(snakemake.log[0]) as log:
    inputs, params = snakemake.input, snakemake.params
    template = Path(inputs.template).read_text(encoding="utf-8")
    tables = read_tables(dict(inputs.items()), params.language_labels)
    for name, path in snakemake.output.items():
        title, sections, warnings = entry_named(TABLE_PAGES, name).build(tables, params)
        Path(path).write_text(
            tables_page(template, title, sections, params.notes, warnings), encoding="utf-8"
        )
        log.info("%s: %s", name, path)
