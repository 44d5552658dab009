"""The study's bill before spending, stage by stage (see culturalign.estimate for the range): what
each paid stage would send that is not cached yet, from the same requests the stages build."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
import polars as pl

from culturalign.backends import GenerationRequest, backend_class
from culturalign.cache import CompletionCache
from culturalign.calls import keyed_request, sampling_parameters, uncached
from culturalign.canary import safety_questions, stance_questions
from culturalign.estimate import (
    Pricing,
    estimate_row,
    failed_share,
    history,
    judge_work,
    observed_completion_tokens,
    observed_prompt_tokens,
    requests_work,
    typical_answer,
    work,
)
from culturalign.generate import run_requests
from culturalign.items import Item
from culturalign.judge import split_statements
from culturalign.llm_judge import ATTEMPTS, JUDGE_SAMPLING, judge_request
from culturalign.prompts import PromptBank
from culturalign.safety.judge import safety_judge_parameters
from culturalign.safety.prompts import safety_requests
from culturalign.translate import (
    SOURCE_LANGUAGE,
    TRANSLATE_SAMPLING,
    english_sources,
    placeholder_problem,
    translation_request,
)

LEDGER = Path("results/ledger")


@dataclass
class Bill:
    """The study's settings the bill needs, and the rows it has so far."""

    models: Mapping[str, dict]
    cache: CompletionCache
    prices: str | Path
    sampling: dict
    retry_share: float
    tokens_per_second: float
    folder: Path = Path(".")

    def __post_init__(self):
        self.rows: list[dict] = []
        # (model, language, seed) -> (the run's prompts, whether they are its own, its requests pending)
        self.generation: dict[tuple, tuple[pl.DataFrame, bool, int]] = {}
        self.safety_pending: dict[tuple, int] = {}

    def pricing(self, slug: str) -> Pricing:
        return Pricing.of(self.models[slug], self.prices, self.tokens_per_second)

    def free(self, slug: str) -> bool:
        """Whether a model's answers cost nothing and are never cached (simulated, imported)."""
        return not backend_class(self.models[slug]["backend"]).cached

    def expected_completion(self, slug: str) -> float:
        """The tokens a model's typical answer has: its history's mean, else its max_tokens."""
        typical = observed_completion_tokens(history(self.folder / LEDGER / "generate" / slug, "*/*.csv"))
        maximum = sampling_parameters(self.sampling, self.models[slug])["max_tokens"]
        return maximum if typical is None else min(maximum, typical)

    # -- generation -----------------------------------------------------------------------------

    def generate(self, model: str, language: str, seed: int, prompts_path: str | Path, own: bool) -> None:
        """A survey run. `own`: the run's own prompt sample (else a stand-in of another language, of
        a language whose prompts are not translated yet: the same prompts, none of them cached)."""
        prompts = pl.read_parquet(prompts_path)
        settings = self.models[model]
        requests = run_requests(
            prompts_path, language=language, seed=seed, settings=settings, study_sampling=self.sampling
        )
        if self.free(model):  # free and reproducible: never cached, nothing to pay
            self.generation[model, language, seed] = (prompts, own, 0)
            return
        pending = uncached(requests, self.cache) if own else requests
        self.generation[model, language, seed] = (prompts, own, len(pending))
        earlier = history(self.folder / LEDGER / "generate" / model, "*/*.csv")
        done = requests_work(
            pending,
            typical_completion=observed_completion_tokens(earlier),
            max_tokens=sampling_parameters(self.sampling, settings)["max_tokens"],
            retries=failed_share(earlier, self.retry_share),
        )
        self.rows.append(
            estimate_row(
                done, stage="generate", model=model, language=language, seed=seed, pricing=self.pricing(model)
            )
        )

    def judge(
        self,
        judge: str,
        model: str,
        language: str,
        seed: int,
        *,
        template: jinja2.Template,
        items: Mapping[str, Item],
        min_statements: int,
    ) -> None:
        """An LLM judge reading one survey run: the answers' requests where the answers exist and
        nothing of the run is left to generate, else one request per prompt around a typical answer."""
        if self.free(judge):
            return
        prompts, own, pending = self.generation[model, language, seed]
        settings = self.models[judge]

        def answer_requests(answers: pl.DataFrame) -> list[GenerationRequest]:
            requests = []
            for prompt_id, item, text in answers.select("prompt_id", "item", "text").iter_rows():
                statements = split_statements(text)
                if text is not None and len(statements) >= min_statements:
                    requests.append(
                        judge_request(
                            template,
                            items[item],
                            text,
                            statements,
                            prompt_id=prompt_id,
                            language=language,
                            seed=seed,
                            settings=settings,
                            attempt=0,
                        )
                    )
            return requests

        def stand_in_prompts() -> list[tuple[str, str]]:
            answer, statements = typical_answer(self.expected_completion(model))
            return [
                (
                    template.render(pro=items[item].pro, con=items[item].con, response="", statements=[]),
                    template.render(
                        pro=items[item].pro, con=items[item].con, response=answer, statements=statements
                    ),
                )
                for item in prompts["item"]
            ]

        self._judge_run(
            judge,
            model,
            stage=f"judge:{judge}",
            language=language,
            seed=seed,
            answers=self.folder / f"results/responses/{model}/{language}/{seed}.parquet"
            if own and not pending
            else None,
            answer_requests=answer_requests,
            stand_in_prompts=stand_in_prompts,
            earlier=history(self.folder / LEDGER / "judge" / judge, "*/*/*.csv"),
            max_tokens=JUDGE_SAMPLING["max_tokens"],
        )

    def _judge_run(
        self,
        judge: str,
        model: str,
        *,
        stage: str,
        language: str,
        seed: int | None,
        answers: Path | None,
        answer_requests: Callable[[pl.DataFrame], list[GenerationRequest]],
        stand_in_prompts: Callable[[], list[tuple[str, str]]],
        earlier: pl.DataFrame | None,
        max_tokens: int,
    ) -> None:
        """A judge's work on one run of `model`, survey or safety: the requests of the run's answers
        where `answers` is named (nothing is left to generate) and exists; else the judge's prompts
        around an empty and a typical answer. `earlier`: the judge's ledger on this stage, whose
        token counts make the expected cost."""
        if answers is not None and answers.exists():
            known, unknown = uncached(answer_requests(pl.read_parquet(answers)), self.cache), []
        else:
            known, unknown = None, stand_in_prompts()
        done = judge_work(
            known,
            unknown,
            typical_completion=observed_completion_tokens(earlier),
            typical_prompt=observed_prompt_tokens(earlier),
            max_tokens=max_tokens,
            retries=ATTEMPTS - 1,
        )
        self.rows.append(
            estimate_row(
                done, stage=stage, model=model, language=language, seed=seed, pricing=self.pricing(judge)
            )
        )

    # -- safety ---------------------------------------------------------------------------------

    def safety(self, model: str, language: str, attack: str, prompts: pl.DataFrame, sampling: dict) -> None:
        """A safety run: each prompt under the attack."""
        settings = self.models[model]
        requests = safety_requests(
            prompts, attack=attack, settings=settings, parameters=sampling_parameters(sampling, settings)
        )
        if self.free(model):
            self.safety_pending[model, language, attack] = 0
            return
        pending = uncached(requests, self.cache)
        self.safety_pending[model, language, attack] = len(pending)
        earlier = history(self.folder / LEDGER / "safety" / model, "*/*.csv")
        done = requests_work(
            pending,
            typical_completion=observed_completion_tokens(earlier),
            max_tokens=sampling_parameters(sampling, settings)["max_tokens"],
            retries=failed_share(earlier, self.retry_share),
        )
        self.rows.append(
            estimate_row(
                done,
                stage=f"safety:{attack}",
                model=model,
                language=language,
                seed=None,
                pricing=self.pricing(model),
            )
        )

    def safety_judge(
        self,
        judge: str,
        model: str,
        language: str,
        attack: str,
        prompts: pl.DataFrame,
        template: jinja2.Template,
    ) -> None:
        """The safety judge reading one safety run: the answers' requests where they exist and none
        is left to generate, else one per prompt around a typical answer."""
        if self.free(judge):
            return
        settings, parameters = self.models[judge], safety_judge_parameters()
        requested = dict(prompts.filter(pl.col("attack") == attack).select("prompt_id", "text").iter_rows())

        def answer_requests(answers: pl.DataFrame) -> list[GenerationRequest]:
            return [
                keyed_request(
                    settings,
                    template.render(request=requested[prompt_id], response=text),
                    parameters,
                    "safety_judge/attempt-0",
                    prompt_id=prompt_id,
                    item="safety",
                    language=language,
                    seed=0,
                )
                for prompt_id, text in answers.select("prompt_id", "text").iter_rows()
                if text is not None
            ]

        def stand_in_prompts() -> list[tuple[str, str]]:
            answer, _ = typical_answer(self.expected_completion(model), lines=1)
            return [
                (template.render(request=text, response=""), template.render(request=text, response=answer))
                for text in requested.values()
            ]

        earlier = history(self.folder / LEDGER / "safety_judge", "*/*/*.csv")
        if earlier is not None:
            earlier = earlier.filter(pl.col("stage").str.starts_with(f"safety_judge:{judge}:"))
        self._judge_run(
            judge,
            model,
            stage=f"safety_judge:{judge}:{attack}",
            language=language,
            seed=None,
            answers=self.folder / f"results/safety/responses/{model}/{language}/{attack}.parquet"
            if not self.safety_pending.get((model, language, attack))
            else None,
            answer_requests=answer_requests,
            stand_in_prompts=stand_in_prompts,
            earlier=earlier,
            max_tokens=parameters["max_tokens"],
        )

    # -- translation ----------------------------------------------------------------------------

    def translate(
        self,
        translator: str,
        language: str,
        english: PromptBank,
        template: jinja2.Template,
        max_attempts: int,
    ) -> None:
        """Translating the English prompt bank into `language` (asked up to max_attempts times at
        the high end), and back: exact where the translation is cached, else around the source."""
        settings = self.models[translator]

        def request(source, text: str, source_language: str, target_language: str, attempt: int = 0):
            return translation_request(
                template,
                source,
                text,
                source_language=source_language,
                target_language=target_language,
                settings=settings,
                attempt=attempt,
            )

        def usable(source) -> str | None:
            """The source's translation as the translate job kept it: its first usable attempt."""
            for attempt in range(max_attempts):
                answer = stored.get(request(source, source.text, SOURCE_LANGUAGE, language, attempt).key)
                text = answer.text.strip() if answer is not None and answer.text is not None else None
                if text is not None and placeholder_problem(source.kind, text) is None:
                    return text
            return None

        sources = english_sources(english)
        forward = [request(source, source.text, SOURCE_LANGUAGE, language) for source in sources]
        stored = self.cache.get_many(
            [
                request(source, source.text, SOURCE_LANGUAGE, language, attempt).key
                for source in sources
                for attempt in range(max_attempts)
            ]
        )
        back, unknown = [], []
        for source in sources:
            translated = usable(source)
            if translated is not None:
                back.append(request(source, translated, language, SOURCE_LANGUAGE))
            else:
                unknown.append(
                    (
                        request(source, "", language, SOURCE_LANGUAGE).messages[0]["content"],
                        request(source, source.text, language, SOURCE_LANGUAGE).messages[0]["content"],
                    )
                )
        earlier = history(self.folder / LEDGER / "translate", f"{language}.csv")
        typical = observed_completion_tokens(earlier)
        maximum = TRANSLATE_SAMPLING["max_tokens"]
        done = requests_work(
            [item for item in forward if item.key not in stored],
            typical_completion=typical,
            max_tokens=maximum,
            retries=max_attempts - 1,
        ) + requests_work(
            uncached(back, self.cache), typical_completion=typical, max_tokens=maximum, retries=0
        )
        if unknown:
            done = done + work(
                len(unknown),
                chars=sum(len(text) for _, text in unknown),
                chars_low=sum(len(text) for text, _ in unknown),
                typical_completion=typical,
                max_tokens=maximum,
                retries=0,
            )
        self.rows.append(
            estimate_row(
                done,
                stage="translate",
                model=translator,
                language=language,
                seed=0,
                pricing=self.pricing(translator),
            )
        )

    # -- the drift canary -----------------------------------------------------------------------

    def canary(
        self,
        judge: str,
        kinds: list[str],
        *,
        gold: pl.DataFrame | None,
        answers: pl.DataFrame | None,
        items: Mapping[str, Item],
        template: jinja2.Template,
        safety_template: jinja2.Template,
        size: int,
        seed: int,
        date: str,
    ) -> None:
        """The drift canary of one API judge on `date` (culturalign.canary): its seeded samples of
        gold statements and labelled safety answers under the date's request keys."""
        settings, stance, safety = self.models[judge], [], []
        if "stance" in kinds and gold is not None:
            stance = stance_questions(
                gold, items, template, size=size, seed=seed, settings=settings, date=date
            ).first_requests()
        if "safety" in kinds and answers is not None:
            safety = safety_questions(
                answers, safety_template, size=size, seed=seed, settings=settings, date=date
            ).first_requests()
        done = requests_work(
            uncached(stance, self.cache),
            typical_completion=None,
            max_tokens=JUDGE_SAMPLING["max_tokens"],
            retries=ATTEMPTS - 1,
        ) + requests_work(
            uncached(safety, self.cache),
            typical_completion=None,
            max_tokens=safety_judge_parameters()["max_tokens"],
            retries=ATTEMPTS - 1,
        )
        self.rows.append(
            estimate_row(
                done,
                stage=f"canary:{judge}",
                model=judge,
                language="",
                seed=None,
                pricing=self.pricing(judge),
            )
        )

    # -- a safety re-analysis of released completions -------------------------------------------

    def import_judge(self, judge: str, completions: pl.DataFrame, template: jinja2.Template) -> None:
        """An LLM judge labelling released completions (culturalign.safety.judge.judge_completions):
        one request per completion, known exactly."""
        if self.free(judge):
            return
        settings, parameters = self.models[judge], safety_judge_parameters()
        requests = [
            keyed_request(
                settings,
                template.render(request=prompt, response=completion),
                parameters,
                "safety_judge/attempt-0",
                prompt_id=f"{model}/{language}/{prompt_id}",
                item="safety",
                language=language,
                seed=0,
            )
            for model, language, prompt_id, prompt, completion in completions.select(
                "model", "language", "prompt_id", "prompt", "completion"
            ).iter_rows()
        ]
        done = requests_work(
            uncached(requests, self.cache),
            typical_completion=None,
            max_tokens=parameters["max_tokens"],
            retries=ATTEMPTS - 1,
        )
        row = estimate_row(
            done,
            stage=f"safety_import_judge:{judge}",
            model=judge,
            language="",
            seed=None,
            pricing=self.pricing(judge),
        )
        self.rows.append(row)
