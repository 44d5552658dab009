"""Simulated respondents: calibration models with a known answer.

Each answer is real text in a language: a numbered list of 10 brief statements, each for, against
or neutral on the item, phrased from that language's phrase bank. How many are for is drawn from a
known probability: 0.5 (`uniform`), a survey population's polarity (`population`), or a weighted
mix of populations (`mixture`). Configured shares of answers come back in another language or
without the list format, to exercise the filters.
"""

from collections.abc import Sequence

import numpy as np
import polars as pl

from culturalign.backends.base import Completion, GenerationRequest, Record
from culturalign.phrase_bank import PhraseBank
from culturalign.stats import random_stream

STATEMENTS_PER_ANSWER = 10
NUMBERING_STYLES = ("{n}. ", "{n}) ", "**{n}.** ")
NATIVE = "native"
GLOBAL = "global"
UNIFORM = "uniform"


class SimulatedRespondent:
    def __init__(
        self, slug: str, settings: dict, *, banks: dict[str, PhraseBank], ground_truth: pl.DataFrame | None
    ):
        self.slug = slug
        self.kind = settings["respondent"]
        self.weights = (
            {settings["population"]: 1.0} if self.kind == "population" else dict(settings.get("mixture", {}))
        )
        self.neutral_rate = settings.get("neutral_rate", 0.1)
        self.wrong_language_rate = settings.get("wrong_language_rate", 0.0)
        self.malformed_rate = settings.get("malformed_rate", 0.0)
        self.seed = settings.get("seed", 0)
        self.banks = banks
        self.scores = (
            {}
            if ground_truth is None
            else {
                (level, group, item): score
                for level, group, item, score in ground_truth.select(
                    "level", "group", "item", "pro_score"
                ).iter_rows()
            }
        )

    def affirmative_probability(self, item: str, language: str) -> float:
        """The probability that one described person is for the item."""
        if self.kind == "uniform":
            return 0.5
        total = sum(self.weights.values())
        return (
            sum(
                weight * self._population_score(name, item, language) for name, weight in self.weights.items()
            )
            / total
        )

    def _population_score(self, population: str, item: str, language: str) -> float:
        if population == UNIFORM:
            return 0.5
        key = {NATIVE: ("language", language), GLOBAL: ("global", "global")}.get(
            population, ("country", population)
        )
        score = self.scores.get((*key, item))
        if score is None:
            raise ValueError(
                f"models.{self.slug}: the survey has no {key[0]} population {key[1]!r} "
                f"with a score for {item}"
            )
        return score

    def wrong_language_for(self, language: str) -> str:
        """The language a wrong-language answer comes in: English, or for English prompts another one."""
        if language != "en":
            return "en"
        return next(other for other in sorted(self.banks) if other != "en")

    def generate(
        self, requests: Sequence[GenerationRequest], record: Record | None = None
    ) -> list[Completion]:
        """Simulated answers cost nothing and are reproducible from their seed: not recorded."""
        return [self._answer(request) for request in requests]

    def _answer(self, request: GenerationRequest) -> Completion:
        rng = random_stream(self.seed, self.slug, request.language, request.seed, request.prompt_id)
        probability = self.affirmative_probability(request.item, request.language)
        roll = rng.random()
        language = request.language
        if roll < self.wrong_language_rate:
            language = self.wrong_language_for(request.language)
        bank = self.banks[language]
        statements = [
            self._statement(bank, request.item, probability, rng) for _ in range(STATEMENTS_PER_ANSWER)
        ]
        intro = bank.intro[rng.integers(len(bank.intro))]
        if self.wrong_language_rate <= roll < self.wrong_language_rate + self.malformed_rate:
            # Prose instead of a list: the format filter must catch it.
            return Completion(text=" ".join([intro, *statements]), finish_reason="stop")
        numbering = NUMBERING_STYLES[rng.integers(len(NUMBERING_STYLES))]
        lines = [numbering.format(n=n) + statement for n, statement in enumerate(statements, start=1)]
        text = intro + "\n\n" + "\n".join(lines)
        if rng.random() < 0.5:
            text += "\n\n" + bank.outro[rng.integers(len(bank.outro))]
        return Completion(text=text, finish_reason="stop")

    def _statement(self, bank: PhraseBank, item: str, probability: float, rng: np.random.Generator) -> str:
        if rng.random() < self.neutral_rate:
            opinion = bank.neutral[rng.integers(len(bank.neutral))]
        else:
            stance = "pro" if rng.random() < probability else "con"
            choices = bank.opinions[item][stance]
            opinion = choices[rng.integers(len(choices))]
        person = bank.persons[rng.integers(len(bank.persons))]
        frame = bank.frames[rng.integers(len(bank.frames))]
        return frame.format(person=person, opinion=opinion)
