"""The study plan: what runs, for which model, language, seed and attack, and why something is
left out, decided once from the validated config and tested without Snakemake.

Rule files read a `Study` and format paths with it; they hold no logic of their own. A
re-analysis of released judged data is a `Study` built from the imported table."""

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

from culturalign.backends import Backend, backend_class
from culturalign.backends.simulated import UNIFORM
from culturalign.config import add_uniform_baseline, apply_schema, canonicalize, check_config
from culturalign.items import Item
from culturalign.language_resources import is_unreviewed, provenance
from culturalign.phrase_bank import available_languages, phrase_bank_path
from culturalign.prompts import translated_languages
from culturalign.reanalysis import SIMULATED_FAMILY, read_judged_import, runs_of, with_uniform_baseline
from culturalign.regression import load_capabilities, model_capabilities
from culturalign.safety import SafetyError
from culturalign.safety.external import external_languages
from culturalign.safety.sets import attacks_of, load_other_language, safety_set_languages, safety_set_path
from culturalign.safety.validity import labelled_answers_path
from culturalign.survey import RQ2_REFERENCE_LANGUAGE

SAFETY_FILE_PATTERN = "resources/languages/<language>/safety.yaml"
# A re-analysis asks no model a survey or safety prompt: what a study of models plans for them.
NOTHING_ASKED = {
    "llm_judges": (),
    "secondary_judges": (),
    "judge_gold": None,
    "translated": (),
    "unreviewed": (),
    "phrase_bank_languages": (),
    "safety_languages": (),
    "safety_attacks": {},
    "answer_languages": {},
    "safety_runs": (),
}


class Run(NamedTuple):
    """One model answering one language's prompt sample of one seed."""

    model: str
    language: str
    seed: int


class SafetyRun(NamedTuple):
    """One model answering one language's safety prompts under one attack."""

    model: str
    language: str
    attack: str


def plan_study(
    config: dict, schema: str | Path, resources: str | Path, source: str, items: Mapping[str, Item]
) -> tuple["Study", str | None]:
    """Validate `config` in place (the schema's defaults, the uniform-random baseline when it has
    none, canonical key order, the checks beyond the schema) and plan its study; also the slug of
    the baseline added, if one was. Raises ConfigError (or JudgedImportError, RegressionError)
    naming the file and key."""
    apply_schema(config, schema, source)
    added = add_uniform_baseline(config)
    if added:
        apply_schema(config, schema, source)  # the added model's own defaults
    canonicalize(config)
    check_config(config, items, resources, source)
    return Study.from_config(config, resources, source, items=items), added


@dataclass(frozen=True)
class Study:
    """The plan of one study. `models` holds every model's settings (evaluated models, judges and
    translators); `evaluated` those that answer the study's prompts."""

    source: str
    resources: Path
    models: Mapping[str, dict]
    evaluated: tuple[str, ...]
    languages: tuple[str, ...]
    seeds: tuple[int, ...]
    runs: tuple[Run, ...]
    llm_judges: tuple[str, ...]
    secondary_judges: tuple[str, ...]
    judge_gold: str | None
    translated: tuple[str, ...]
    # languages whose resources the project wrote and no native speaker reviewed (their provenance)
    unreviewed: tuple[str, ...]
    phrase_bank_languages: tuple[str, ...]
    safety_languages: tuple[str, ...]
    safety_attacks: Mapping[str, tuple[str, ...]]
    answer_languages: Mapping[str, str]
    safety_runs: tuple[SafetyRun, ...]
    safety_judge: str | None
    imported: str | None
    # a safety re-analysis of released completions (safety.completions_import), and its LLM judges
    completions_import: tuple[Mapping[str, str], ...]
    import_judges: tuple[str, ...]
    canary: Mapping[str, Any]  # judges.canary
    rq1_models: tuple[str, ...]
    rq1_left_out: tuple[str, ...]
    baselines: tuple[str, ...]
    warnings: tuple[str, ...]

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def from_config(
        cls, config: dict, resources: str | Path, source: str, items: Iterable[str] = ()
    ) -> "Study":
        """The plan of a validated config (schema defaults applied, check_config passed). With
        `judged_import`, the models, languages and seeds are those of the imported table
        (`items`: the item bank's keys, which its rows must use)."""
        resources = Path(resources)
        if config["judged_import"]:
            return cls._from_imported(config, resources, source, set(items))
        if config["safety"]["completions_import"]:
            return cls._from_completions(config, resources, source)
        models = dict(config["models"])
        evaluated = tuple(slug for slug, settings in models.items() if settings.get("evaluate", True))
        banked = tuple(available_languages(resources))
        runs = tuple(
            Run(model, language, seed)
            for model, language, seed in itertools.product(evaluated, config["languages"], config["seeds"])
            if not backend_class(models[model]["backend"]).simulated or language in banked
        )
        safety = config["safety"]
        safety_languages, safety_attacks, answer_languages = _safety_languages(config, resources)
        safety_runs = tuple(
            SafetyRun(model, language, attack)
            for model, language in itertools.product(evaluated, safety_languages)
            for attack in safety_attacks[language]
            if not backend_class(models[model]["backend"]).simulated
            or {language, answer_languages[language]} <= set(banked)
        )
        judges = config["judges"]
        llm_judges = (judges["primary"], *judges["secondary"]) if judges["primary"] else ()
        translated = tuple(
            translated_languages(resources, config["languages"], config["translation"]["translator"])
        )
        partial = cls(
            source=source,
            resources=resources,
            models=models,
            evaluated=evaluated,
            languages=tuple(config["languages"]),
            seeds=tuple(config["seeds"]),
            runs=runs,
            llm_judges=llm_judges,
            secondary_judges=tuple(judges["secondary"]),
            judge_gold=judges["gold"],
            translated=translated,
            unreviewed=tuple(
                language
                for language in config["languages"]
                if language not in translated and is_unreviewed(provenance(resources, language))
            ),
            phrase_bank_languages=banked,
            safety_languages=safety_languages,
            safety_attacks=safety_attacks,
            answer_languages=answer_languages,
            safety_runs=safety_runs,
            safety_judge=safety["judge"] or judges["primary"],
            imported=None,
            completions_import=(),
            import_judges=(),
            canary=config["judges"]["canary"],
            rq1_models=_rq1_models(config, evaluated),
            rq1_left_out=(),
            baselines=tuple(slug for slug in evaluated if models[slug].get("respondent") == UNIFORM),
            warnings=(),
        )
        return partial._with_findings(config, resources, safety["enabled"])

    @classmethod
    def _from_imported(cls, config: dict, resources: Path, source: str, items: set[str]) -> "Study":
        reference = config["regression"]["rq2"]["reference"]
        table = with_uniform_baseline(
            read_judged_import(config["judged_import"], items), reference, seed=config["alignment"]["seed"]
        )
        runs = tuple(Run(*run) for run in runs_of(table))
        models = {
            model: {"backend": "imported", "family": family}
            for model, family in table.select("model", "family").unique().sort("model").iter_rows()
        }
        evaluated = tuple(models)
        study = cls(
            source=source,
            resources=resources,
            models=models,
            evaluated=evaluated,
            languages=tuple(sorted({run.language for run in runs})),
            seeds=tuple(sorted({run.seed for run in runs})),
            runs=runs,
            **NOTHING_ASKED,
            safety_judge=None,
            imported=config["judged_import"],
            completions_import=(),
            import_judges=(),
            canary=config["judges"]["canary"],
            rq1_models=_rq1_models(config, evaluated),
            rq1_left_out=(),
            baselines=(reference,) if reference in models else (),
            warnings=(),
        )
        return study._with_findings(config, resources, safety_enabled=False)

    @classmethod
    def _from_completions(cls, config: dict, resources: Path, source: str) -> "Study":
        """A safety re-analysis: nothing is generated or surveyed; the completions are labelled by
        the refusal matcher and every LLM judge (the safety judge and judges.secondary)."""
        judges = config["judges"]
        safety_judge = config["safety"]["judge"] or judges["primary"]
        return cls(
            source=source,
            resources=resources,
            models=dict(config["models"]),
            evaluated=(),
            languages=(),
            seeds=(),
            runs=(),
            **NOTHING_ASKED,
            safety_judge=safety_judge,
            imported=None,
            completions_import=tuple(config["safety"]["completions_import"]),
            import_judges=tuple(
                dict.fromkeys(([safety_judge] if safety_judge else []) + judges["secondary"])
            ),
            canary=judges["canary"],
            rq1_models=(),
            rq1_left_out=(),
            baselines=(),
            warnings=(),
        )

    def _with_findings(self, config: dict, resources: Path, safety_enabled: bool) -> "Study":
        """The plan with what it leaves out for want of a capability, and the warnings to print."""
        left_out = () if self.unjudged_models else tuple(self._rq1_left_out(config, resources))
        warnings = []
        skipped = sorted(
            {
                (model, language)
                for model, language in itertools.product(self.evaluated, self.languages)
                if self.backend(model).simulated and language not in self.phrase_bank_languages
            }
        )
        if skipped and not self.imported:
            warnings.append(
                "simulated respondents have no phrase bank in {}: they do not answer there ({})".format(
                    ", ".join(sorted({language for _, language in skipped})),
                    ", ".join(sorted({model for model, _ in skipped})),
                )
            )
        if self.unjudged_models:
            warnings.append(
                f"{', '.join(self.unjudged_models)} need an LLM judge (set judges.primary to a model slug "
                "under models): the study stops after generation (results/responses/, results/ledger.csv)."
            )
        if left_out:
            warnings.append(
                "RQ1 leaves out, without a capability (regression.capabilities, capability_name): "
                + "; ".join(left_out)
            )
        if self.safety_unjudged_models:
            warnings.append(
                f"{', '.join(self.safety_unjudged_models)} need a safety judge (safety.judge or "
                "judges.primary): the safety stage stops after their answers (results/safety/responses/)."
            )
        if safety_enabled:
            warnings += self._safety_findings(config["safety"], resources)
        return replace(self, rq1_left_out=left_out, warnings=tuple(f"{self.source}: {w}" for w in warnings))

    def _safety_findings(self, safety: dict, resources: Path) -> list[str]:
        """What the safety stage leaves out, and where it runs without our safety file."""
        own = set(safety_set_languages(resources))
        findings = []
        for attack in safety["attacks"]:
            unwrapped = [
                language
                for language, wrapped in self.safety_attacks.items()
                if language in own and attack not in wrapped
            ]
            if unwrapped:
                findings.append(
                    f"safety.attacks: {attack} has no wrapper in the safety file of {', '.join(unwrapped)} "
                    "(it is written where it applies): its runs there are left out"
                )
        external_only = [language for language in self.safety_languages if language not in own]
        if external_only:
            findings.append(
                f"no safety file ({SAFETY_FILE_PATTERN}) for {', '.join(external_only)}: the external "
                "sets' prompts run there as they are (attack none), read by the safety judge, and no "
                "refusal-phrase matcher checks it"
            )
        left_out = [language for language in self.languages if language not in self.safety_languages]
        if left_out:
            findings.append(
                f"no safety prompts for {', '.join(left_out)} (our safety file, {SAFETY_FILE_PATTERN}, "
                "answered when safety.builtin is true, or an external set with prompts in the language; "
                "without our file only the attack none runs): the safety stage skips them"
            )
        return findings

    def safety_set_input(self, language: str) -> dict[str, Path]:
        """Our safety file of a language, where it has one: its prompts, and the attack wrappers
        the external sets' prompts are put under, even when its own prompts are not answered."""
        path = safety_set_path(self.resources, language)
        return {"safety_set": path} if path.is_file() else {}

    def _rq1_left_out(self, config: dict, resources: Path) -> list[str]:
        if not self.models:
            return []
        capabilities = config["regression"]["capabilities"] or resources / "capabilities.csv"
        return model_capabilities(
            load_capabilities(capabilities),
            self.capability_names(config),
            self.given_capabilities(),
            self.rq1_model_languages(),
        )[1]

    # -- models ---------------------------------------------------------------------------------

    def backend(self, slug: str) -> type[Backend]:
        return backend_class(self.models[slug]["backend"])

    def family(self, slug: str) -> str:
        settings = self.models[slug]
        return settings.get("family", settings["backend"])

    def requests_in_flight(self, slug: str | None) -> int:
        """Requests a job of this model keeps in flight against an API (none for no model)."""
        return self.backend(slug).requests_in_flight(self.models[slug]) if slug else 0

    def read_by_llm_judge(self, model: str) -> bool:
        """Whether the LLM judges read this model's answers (else the simulated reader does)."""
        return bool(self.llm_judges) and self.backend(model).sent_to_llm_judge(self.models[model])

    @property
    def primary_judge(self) -> str | None:
        return self.llm_judges[0] if self.llm_judges else None

    @property
    def gpu_judges(self) -> tuple[str, ...]:
        """LLM judges that read every run in one job (their weights load once)."""
        return tuple(judge for judge in self.llm_judges if self.backend(judge).one_job_per_model)

    @property
    def api_judges(self) -> tuple[str, ...]:
        """LLM judges that read each run in a job of its own."""
        return tuple(judge for judge in self.llm_judges if judge not in self.gpu_judges)

    @property
    def unjudged_models(self) -> tuple[str, ...]:
        """Models whose answers need an LLM judge the study does not have."""
        if self.llm_judges:
            return ()
        return tuple(slug for slug in self.evaluated if self.backend(slug).needs_llm_judge)

    @property
    def safety_unjudged_models(self) -> tuple[str, ...]:
        """Models whose safety answers need a judge the study does not have."""
        if self.safety_judge:
            return ()
        return tuple(
            sorted({run.model for run in self.safety_runs if self.backend(run.model).needs_llm_judge})
        )

    @property
    def safety_judge_on_gpu(self) -> bool:
        return bool(self.safety_judge) and self.backend(self.safety_judge).gpu

    @property
    def safety_reported(self) -> bool:
        """Whether the safety stage runs to its co-analysis with alignment and its report pages:
        every safety answer and every survey answer is judged."""
        return bool(self.safety_runs) and not self.safety_unjudged_models and not self.unjudged_models

    @property
    def simulated_models(self) -> tuple[str, ...]:
        """Evaluated models that are calibration models rather than language models (baselines,
        simulated by design and labelled as such, aside)."""
        return tuple(
            slug
            for slug in self.evaluated
            if (self.backend(slug).simulated or self.models[slug].get("family") == SIMULATED_FAMILY)
            and slug not in self.baselines
        )

    @property
    def language_labels(self) -> dict[str, str]:
        """How the report marks a language whose prompts a reader should not take on trust."""
        return {language: "unreviewed" for language in self.unreviewed} | {
            language: "MT" for language in self.translated
        }

    def targets(self, outputs: Callable[[str], list[str]]) -> list[str]:
        """What the study delivers: the survey tables; the answers and ledger while a real model
        has no judge (see the warnings); else every results table and the report's parts
        (`snakemake --report` collects them). `outputs` gives a rule's output paths by its name."""
        canary = ["results/judges/canary.csv"] if self.canary_kinds else []
        if self.completions_import:
            return [
                *outputs("import_agreement"),
                *(["results/ledger.csv"] if self.import_judges else []),
                *outputs("report_summary"),
                *outputs("report_judge_validity"),
                *canary,
            ]
        targets = ["results/survey/ground_truth.parquet", "results/survey/consistency.parquet"]
        if self.unjudged_models:
            targets += self.per_run("results/responses/{model}/{language}/{seed}.parquet")
            targets.append("results/ledger.csv")
        elif self.models:
            targets += [
                "results/alignment.parquet",
                "results/consistency.parquet",
                "results/filtering.parquet",
            ]
            for rule in ("rq1", "rq2", "report_figures", "report_tables", "report_summary"):
                targets += outputs(rule)
            targets += ["results/judge_agreement.csv"] if self.secondary_judges else []
            targets += ["results/judge_gold.csv"] if self.judge_gold else []
            if not self.imported:
                targets += [
                    "results/language_fidelity.csv",
                    "results/ledger.csv",
                    *outputs("report_evidence"),
                ]
        if self.safety_unjudged_models:
            targets += self.per_safety_run("results/safety/responses/{model}/{language}/{attack}.parquet")
        elif self.safety_runs:
            targets += [*outputs("safety_rates"), *outputs("matcher_validity")]
        if self.safety_reported:
            targets += [*outputs("safety_alignment"), *outputs("report_safety")]
        if self.judge_validity_inputs() and not self.unjudged_models and self.models:
            targets += outputs("report_judge_validity")
        return targets + canary

    # -- paths ----------------------------------------------------------------------------------

    def phrase_banks(self) -> list[Path]:
        """Simulated respondents may answer in any language that has a phrase bank."""
        return [phrase_bank_path(self.resources, language) for language in self.phrase_bank_languages]

    def rq1_inputs(self, observations: str, capabilities: str | Path) -> dict:
        """What the RQ1 fit reads; bootstrap observations redraw each run's responses."""
        inputs = {
            "alignment": "results/alignment.parquet",
            "consistency": "results/consistency.parquet",
            "capabilities": capabilities,
        }
        if observations == "bootstrap":
            inputs["ground_truth"] = "results/survey/ground_truth.parquet"
            inputs["polarity"] = self.per_run(
                "results/polarity/{model}/{language}/{seed}.parquet", self.rq1_runs()
            )
        return inputs

    def safety_judge_inputs(self, template: str | Path, prices: str | Path) -> dict:
        """The safety answers answered apart, the prompts (which the judge's job answers itself
        for free backends), the refusal phrases of every language an answer may be in, the price
        table, the LLM judge's template, and the phrase banks of the simulated reader or of the
        simulated respondents the job answers for."""
        languages = sorted(
            {*self.safety_languages, *self.answer_languages.values()}
            & set(safety_set_languages(self.resources))
        )
        inputs = {
            "responses": self.per_safety_run(
                "results/safety/responses/{model}/{language}/{attack}.parquet",
                self.safety_runs_answered_apart(),
            ),
            "prompts": [f"results/safety/prompts/{language}.parquet" for language in self.safety_languages],
            "safety_sets": [safety_set_path(self.resources, language) for language in languages],
            "prices": prices,
        }
        if self.safety_judge:
            inputs["template"] = template
        if not self.safety_judge or self.safety_runs_answered_by_judge():
            inputs["phrase_banks"] = self.phrase_banks()
        return inputs

    def matcher_validity_inputs(self) -> dict[str, list[Path]]:
        """The safety files and labelled answers of the safety languages that have both: the
        refusal matcher is measured where it runs."""
        languages = [
            language
            for language in self.safety_languages
            if safety_set_path(self.resources, language).is_file()
            and labelled_answers_path(self.resources, language).is_file()
        ]
        return {
            "safety_sets": [safety_set_path(self.resources, language) for language in languages],
            "answers": [labelled_answers_path(self.resources, language) for language in languages],
        }

    @cached_property
    def canary_kinds(self) -> dict[str, tuple[str, ...]]:
        """Each LLM judge behind an API the drift canary checks, and on what: `stance` (gold
        statements, for the stance judges of a study with judges.gold), `safety` (labelled answers
        of the languages in which the safety judge labels, where there are any). Weights a study
        loads itself (vLLM) do not change under their path. Cached: it looks for the labelled
        answers on disk, and every job's parse of the rules asks for it several times."""
        if not self.canary["enabled"]:
            return {}
        kinds: dict[str, list[str]] = {}
        if self.judge_gold:
            for judge in self.llm_judges:
                kinds.setdefault(judge, []).append("stance")
        labelling = self.safety_runs or self.completions_import
        if self.safety_judge and labelling and self.canary_answer_files():
            kinds.setdefault(self.safety_judge, []).append("safety")
        return {
            judge: tuple(judge_kinds)
            for judge, judge_kinds in kinds.items()
            if not self.backend(judge).one_job_per_model
        }

    def judge_validity_inputs(self) -> dict[str, str]:
        """The tables of the report's judge-validity page: each judge against people or known
        labels, and the drift canary."""
        inputs = {}
        if self.judge_gold:
            inputs["gold"] = "results/judge_gold.csv"
        if self.completions_import:
            inputs["human"] = "results/safety/human_agreement.csv"
        if self.safety_runs:
            inputs["matcher"] = "results/safety/matcher_validity.csv"
        if self.canary_kinds:
            inputs["canary"] = "results/judges/canary.csv"
        return inputs

    def canary_answer_files(self) -> list[Path]:
        """The labelled answers of the languages the safety judge labels in (a re-analysis: those
        of its XSTest files), where they exist."""
        languages = self.safety_languages or sorted(
            {
                source.get("language", "en")
                for source in self.completions_import
                if source["format"] == "xstest"
            }
        )
        paths = [labelled_answers_path(self.resources, language) for language in languages]
        return [path for path in paths if path.is_file()]

    def refusal_rule_files(self) -> list[Path]:
        """Every shipped safety file: the refusal matcher reads imported completions in any language."""
        return [
            safety_set_path(self.resources, language) for language in safety_set_languages(self.resources)
        ]

    # -- runs -----------------------------------------------------------------------------------

    def llm_judged_runs(self) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if self.read_by_llm_judge(run.model))

    def runs_of(self, model: str) -> tuple[Run, ...]:
        return tuple(run for run in self.runs if run.model == model)

    def safety_runs_of(self, model: str) -> tuple[SafetyRun, ...]:
        return tuple(run for run in self.safety_runs if run.model == model)

    @property
    def answered_in_scoring(self) -> tuple[str, ...]:
        """Models whose answers the simulated reader reads and which cost nothing to write: each
        run's score_run job writes them itself, instead of a generate job of their own. None while
        the study stops after generation (a real model without a judge): nothing is scored then."""
        if self.unjudged_models:
            return ()
        return tuple(
            slug
            for slug in self.evaluated
            if self.backend(slug).answered_by_reader and not self.read_by_llm_judge(slug)
        )

    @property
    def generated_apart(self) -> tuple[str, ...]:
        """Models whose runs are answered by generate jobs of their own."""
        return tuple(slug for slug in self.evaluated if slug not in self.answered_in_scoring)

    def safety_runs_answered_by_judge(self) -> tuple[SafetyRun, ...]:
        """The safety runs whose answers the safety judge's job writes itself (backends whose
        answers are free: a job per run would cost more than the answers). None while the safety
        stage stops after the answers (a real model without a safety judge)."""
        if self.safety_unjudged_models:
            return ()
        return tuple(run for run in self.safety_runs if self.backend(run.model).answered_by_reader)

    def safety_runs_answered_apart(self) -> tuple[SafetyRun, ...]:
        """The safety runs answered by jobs of their own (safety_generate) before the judge reads them."""
        by_judge = set(self.safety_runs_answered_by_judge())
        return tuple(run for run in self.safety_runs if run not in by_judge)

    def safety_languages_of(self, model: str) -> list[str]:
        """The languages whose safety prompts this model answers, in the plan's order."""
        return list(dict.fromkeys(run.language for run in self.safety_runs_of(model)))

    def rq1_runs(self) -> tuple[Run, ...]:
        chosen = set(self.rq1_models)
        return tuple(run for run in self.runs if run.model in chosen)

    def rq1_model_languages(self) -> list[tuple[str, str]]:
        """The (model, language) pairs RQ1 needs a capability for."""
        return sorted({(run.model, run.language) for run in self.rq1_runs()})

    def rq2_languages(self, configured: Mapping[str, list[str]]) -> tuple[str, ...]:
        """The languages RQ2 compares with the US: every study language but English, and English
        too if native countries are configured for it. Their native countries come from the
        survey (culturalign.survey.native_countries); a language with none is left out there."""
        return tuple(
            language
            for language in self.languages
            if language != RQ2_REFERENCE_LANGUAGE or language in configured
        )

    def rq2_runs(self, configured: Mapping[str, list[str]]) -> tuple[Run, ...]:
        """The runs in languages that RQ2 compares with the US."""
        languages = set(self.rq2_languages(configured))
        return tuple(run for run in self.runs if run.language in languages)

    def capability_names(self, config: dict) -> dict[str, str | list[str]]:
        """Each RQ1 model's name (or names) in the capability table."""
        names = config["regression"]["capability_names"]
        return {
            slug: self.models[slug].get("capability_name", names.get(slug, slug)) for slug in self.rq1_models
        }

    def given_capabilities(self) -> dict[str, Any]:
        """Capabilities configured directly on a model (simulated models), by language."""
        return {
            slug: self.models[slug]["capability"]
            for slug in self.rq1_models
            if "capability" in self.models[slug]
        }

    @staticmethod
    def as_params(runs: Iterable[tuple]) -> list[dict]:
        """Runs as plain records for a rule's params (see culturalign.io.read_runs)."""
        return [run._asdict() for run in runs]

    def per_run(self, pattern: str, runs: Iterable[Run] | None = None) -> list[str]:
        """`pattern` filled in for every run (or those given), in the plan's order."""
        return [pattern.format(**run._asdict()) for run in (self.runs if runs is None else runs)]

    def per_safety_run(self, pattern: str, runs: Iterable[SafetyRun] | None = None) -> list[str]:
        return [pattern.format(**run._asdict()) for run in (self.safety_runs if runs is None else runs)]

    def judge_runs(self) -> list[dict]:
        """Every LLM judge with every run it reads, as records (the params of per_judge_and_run)."""
        return [
            {"judge": judge, **run._asdict()} for judge in self.llm_judges for run in self.llm_judged_runs()
        ]

    def per_judge_and_run(self, pattern: str) -> list[str]:
        """`pattern` filled in for every LLM judge and every run it reads."""
        return [pattern.format(**record) for record in self.judge_runs()]


def _safety_languages(
    config: dict, resources: Path
) -> tuple[tuple[str, ...], dict[str, tuple[str, ...]], dict[str, str]]:
    """The study's languages with safety prompts (our safety file's, when safety.builtin, or an
    external set's), the configured attacks each can be put under, and the language each one's
    `other_language` attack asks for. Attacks are wrappers in our safety file: a language without
    one runs the external prompts as they are (`none`) only."""
    safety = config["safety"]
    if not safety["enabled"]:
        return (), {}, {}
    own = set(safety_set_languages(resources)) & set(config["languages"])
    covered = set()
    for index, source in enumerate(safety["external"]):
        try:
            covered |= external_languages(source, config["languages"])
        except SafetyError as error:
            raise SafetyError(f"safety.external[{index}]: {error}") from error
    attacks, answer_languages = {}, {}
    for language in config["languages"]:
        if language in own:
            path = safety_set_path(resources, language)
            wrapped, answer_languages[language] = attacks_of(path), load_other_language(path).code
        else:
            wrapped, answer_languages[language] = ("none",), language
        attacks[language] = tuple(attack for attack in wrapped if attack in safety["attacks"])
    languages = tuple(
        language
        for language in config["languages"]
        if (language in covered or (safety["builtin"] and language in own)) and attacks[language]
    )
    return (
        languages,
        {language: attacks[language] for language in languages},
        {language: answer_languages[language] for language in languages},
    )


def _rq1_models(config: dict, evaluated: tuple[str, ...]) -> tuple[str, ...]:
    """The models RQ1 is fitted on: as configured, else all but the RQ2 reference."""
    chosen = config["regression"]["rq1"]["models"]
    reference = config["regression"]["rq2"]["reference"]
    return tuple(chosen or [slug for slug in evaluated if slug != reference])
