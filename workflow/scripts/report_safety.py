from pathlib import Path

import polars as pl

from culturalign.logs import script_log
from culturalign.report.figures.drawing import drawn_figure, save_figure
from culturalign.report.pages import tables_page
from culturalign.report.registry import SAFETY_FIGURES
from culturalign.report.tables import safety_sections

with script_log(snakemake.log[0]) as log:
    inputs, params, outputs = snakemake.input, snakemake.params, snakemake.output
    rates, gaps = pl.read_parquet(inputs.rates), pl.read_parquet(inputs.gaps)
    pairs, correlation = pl.read_csv(inputs.pairs), pl.read_csv(inputs.correlation)
    problems = pl.concat([pl.read_csv(path, schema_overrides={"row": pl.Int64}) for path in inputs.problems])
    tables = {"rates": rates, "pairs": pairs, "correlation": correlation}
    for entry in SAFETY_FIGURES:
        path = getattr(outputs, entry.name)
        save_figure(drawn_figure(entry, tables, params), path)
        log.info("figure: %s", path)
    sections = safety_sections(
        rates,
        gaps,
        pl.read_csv(inputs.agreement),
        pl.read_csv(inputs.matcher_validity),
        pairs,
        correlation,
        problems,
        params.reference,
        pl.read_csv(inputs.injection),
    )
    page = tables_page(Path(inputs.template).read_text(encoding="utf-8"), "Safety", sections, params.notes)
    Path(outputs.tables).write_text(page, encoding="utf-8")
    log.info("tables: %s", outputs.tables)
