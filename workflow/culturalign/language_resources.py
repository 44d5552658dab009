"""Where a language's resources live: one folder per language under resources/languages/, holding its
prompt templates, topic paraphrases, simulated respondents' phrase bank and safety set, so that adding
a language is adding one folder. A language has a resource when its folder has that resource's file:
a folder may hold some and not others."""

from pathlib import Path

LANGUAGES_FOLDER = "languages"


def language_folder(resources: str | Path, language: str) -> Path:
    return Path(resources) / LANGUAGES_FOLDER / language


def languages_with(resources: str | Path, file_name: str) -> list[str]:
    """The languages whose folder holds `file_name`, sorted."""
    return sorted(path.parent.name for path in (Path(resources) / LANGUAGES_FOLDER).glob(f"*/{file_name}"))


def language_of(path: str | Path) -> str:
    """The language a resource file belongs to: the name of the folder it is in."""
    return Path(path).parent.name
