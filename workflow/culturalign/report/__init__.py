"""The report stage: the honesty notes, the registry of figures and table pages, the pages, the
figures and the summary, made from the study's result tables only."""
