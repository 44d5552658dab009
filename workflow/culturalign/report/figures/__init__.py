"""The report's figures, one module per family. Each function takes the frames the workflow writes
and returns a matplotlib Figure; nothing is re-estimated."""
