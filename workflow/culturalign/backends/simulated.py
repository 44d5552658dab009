"""Simulated respondents: calibration models with a known answer.

Each answer is real text in a language: a numbered list of 10 brief statements, each for, against
or neutral on the item, phrased from that language's phrase bank. How many are for is drawn from a
known probability: 0.5 (`uniform`), a survey population's polarity (`population`), or a weighted
mix of populations (`mixture`). Configured shares of answers come back in another language or
without the list format, to exercise the filters.

To a safety prompt (a request with an `attack`) they answer with a refusal, a partial or a full
compliance, drawn from the model's `safety` propensities (see `safety_propensities`); the text is an
opening of that kind from the phrase bank and a filler, never anything operational.
"""

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import polars as pl

from culturalign.backends.base import Backend, Completion, GenerationRequest, Record, backend
from culturalign.phrase_bank import PhraseBank
from culturalign.stats import random_stream

STATEMENTS_PER_ANSWER = 10
NEUTRAL_RATE = 0.1  # share of statements that take no side, unless a model's neutral_rate says
NATIVE = "native"
GLOBAL = "global"
UNIFORM = "uniform"
SAFETY_DEFAULTS = {"refusal": 0.9, "partial": 0.3, "over_refusal": 0.05}
OTHER_LANGUAGE_ATTACK = "other_language"


class SafetyPropensities(NamedTuple):
    refusal: float  # a harmful prompt is refused
    partial: float  # a harmful prompt that is not refused is answered in part only
    over_refusal: float  # a benign prompt is refused


def pick(rng: np.random.Generator, shares: Sequence[float]) -> int:
    """An index drawn with these shares; equal shares draw as `rng.integers` does, so that a bank
    without numbering of its own keeps the answers it always gave."""
    if len(set(shares)) == 1:
        return int(rng.integers(len(shares)))
    return int(rng.choice(len(shares), p=np.asarray(shares) / sum(shares)))


def safety_propensities(settings: dict, language: str, attack: str) -> SafetyPropensities:
    """A simulated model's propensities in one language under one attack: `refusal`, `partial` and
    `over_refusal` from its `safety` settings (defaults SAFETY_DEFAULTS), overridden per language
    under `safety.languages`; an attack keeps the share `safety.attacks[attack]` (default 1) of
    both refusal propensities."""
    safety = settings.get("safety", {})
    base = {key: safety.get(key, default) for key, default in SAFETY_DEFAULTS.items()}
    base |= safety.get("languages", {}).get(language, {})
    kept = 1.0 if attack == "none" else safety.get("attacks", {}).get(attack, 1.0)
    return SafetyPropensities(base["refusal"] * kept, base["partial"], base["over_refusal"] * kept)


def safety_answer_kind(propensities: SafetyPropensities, harmful: bool, rng: np.random.Generator) -> str:
    """The kind of a simulated answer to a safety prompt: refusal, partial or full_compliance."""
    if harmful:
        if rng.random() < propensities.refusal:
            return "refusal"
        return "partial" if rng.random() < propensities.partial else "full_compliance"
    return "refusal" if rng.random() < propensities.over_refusal else "full_compliance"


@backend("simulated")
class SimulatedRespondent(Backend):
    """`answer_languages` maps a prompt's language to the one its `other_language` attack asks for."""

    simulated = True
    answered_by_reader = True
    needs_llm_judge = False
    priced = False
    # free and reproducible from its seed: nothing to keep
    cached = False
    serves_as_tool = False

    @classmethod
    def create(cls, slug, settings, *, phrase_banks=None, ground_truth=None, answer_languages=None, **_):
        return cls(
            slug,
            settings,
            banks=phrase_banks or {},
            ground_truth=ground_truth,
            answer_languages=answer_languages,
        )

    @classmethod
    def sent_to_llm_judge(cls, settings: dict) -> bool:
        """A uniform respondent's coin flips buy nothing from a paid judge: the simulated reader
        reads them for free. Other respondents' answers are the judge's known answers."""
        return settings.get("respondent") != UNIFORM

    def __init__(
        self,
        slug: str,
        settings: dict,
        *,
        banks: dict[str, PhraseBank],
        ground_truth: pl.DataFrame | None,
        answer_languages: Mapping[str, str] | None = None,
    ):
        self.slug = slug
        self.settings = settings
        self.answer_languages = dict(answer_languages or {})
        self.kind = settings["respondent"]
        self.weights = (
            {settings["population"]: 1.0} if self.kind == "population" else dict(settings.get("mixture", {}))
        )
        self.neutral_rate = settings.get("neutral_rate", NEUTRAL_RATE)
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
        return [
            self._answer(request) if request.attack is None else self._safety_answer(request)
            for request in requests
        ]

    def _safety_answer(self, request: GenerationRequest) -> Completion:
        rng = random_stream(
            self.seed, self.slug, "safety", request.language, request.attack, request.prompt_id
        )
        propensities = safety_propensities(self.settings, request.language, request.attack)
        kind = safety_answer_kind(propensities, request.item == "harmful", rng)
        language = request.language
        if request.attack == OTHER_LANGUAGE_ATTACK:
            language = self.answer_languages.get(language, language)
        if rng.random() < self.wrong_language_rate:
            language = self.wrong_language_for(language)
        bank = self.banks[language]
        opening = bank.safety[kind][rng.integers(len(bank.safety[kind]))]
        filler = bank.safety["filler"][rng.integers(len(bank.safety["filler"]))]
        return Completion(text=f"{opening} {filler}", finish_reason="stop")

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
        numbering = bank.numbering[pick(rng, [style.share for style in bank.numbering])]
        lines = [numbering.format(n) + statement for n, statement in enumerate(statements, start=1)]
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
