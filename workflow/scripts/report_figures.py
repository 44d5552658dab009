from culturalign.logs import script_log
from culturalign.report.figures.drawing import drawn_figure, save_figure
from culturalign.report.registry import STUDY_FIGURES, entry_named
from culturalign.report.tables import read_tables

with script_log(snakemake.log[0]) as log:
    tables = read_tables(dict(snakemake.input.items()), snakemake.params.language_labels)
    for name, path in snakemake.output.items():
        save_figure(drawn_figure(entry_named(STUDY_FIGURES, name), tables, snakemake.params), path)
        log.info("%s: %s", name, path)
