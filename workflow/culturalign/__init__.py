"""culturalign: cultural alignment of language models with survey populations, language by language."""

__version__ = "0.1.0"
