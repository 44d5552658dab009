"""Fake models behind the local OpenAI-compatible test server (openai_server.FakeOpenAI): each
answers a request body as the model it stands for would, reproducibly."""

import json
import re
from collections import Counter

from openai_server import numbered_list

from conftest import REPO, judge_sections, shipped_phrase_banks, unit_draw
from culturalign.items import load_items
from culturalign.judge import SimulatedReader
from culturalign.llm_judge import LABELS_SCHEMA
from culturalign.translate import PLACEHOLDER

ITEMS = load_items(REPO / "resources" / "items.yaml")
BANKS = shipped_phrase_banks()
BROKEN_PLACEHOLDER = "{{ ämne }}"


class StanceJudges:
    """The server's judges: `reader-model` labels as the simulated reader does; `noisy-model`
    replaces a share `flip` of those labels with another label and answers some prompts with
    garbage: once (a retry fixes it) or always (the response stays unjudged)."""

    def __init__(self, flip: float = 0.2, garbage_once: float = 0.1, garbage_always: float = 0.02):
        self.reader = SimulatedReader(BANKS)
        self.by_pro = {item.pro: key for key, item in ITEMS.items()}
        self.flip, self.garbage_once, self.garbage_always = flip, garbage_once, garbage_always
        self.seen: Counter[str] = Counter()
        self.summaries: set[str] = set()  # every response text a judge was asked about

    def __call__(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        assert body["response_format"]["json_schema"]["schema"] == LABELS_SCHEMA
        item = self.by_pro[re.search(r"^PRO: (.*)$", prompt, flags=re.M).group(1)]
        summary, listed = judge_sections(prompt, "summary", "statements")
        self.summaries.add(summary.strip())
        statements = [re.sub(r"^\d+\. ", "", line) for line in listed.splitlines()]
        language = self.reader.language_of(item, summary)
        labels = self.reader.labels(item, statements, language)
        if body["model"] == "noisy-model":
            self.seen[prompt] += 1
            draw = unit_draw(prompt)
            once = draw < self.garbage_always + self.garbage_once and self.seen[prompt] == 1
            if draw < self.garbage_always or once:
                return "Most are for it." if draw < 0.5 * self.garbage_always else '{"labels": ["pro"]}'
            moved = {"pro": "con", "con": "null", "null": "pro"}
            labels = [
                moved[label] if unit_draw(prompt, index) < self.flip else label
                for index, label in enumerate(labels)
            ]
        return json.dumps({"labels": labels, "language": language})


class BackwardsTranslator:
    """The server's translator. Into Swedish, every run of letters is written backwards and
    remembered; into English, each such run is looked up in that table. The placeholder is kept,
    except for the texts in `broken`, whose first answers (as many as given) rename it; the texts
    in `garbled` are answered with a translation of something else. Survey prompts (to the
    respondent model) get the server's usual numbered list."""

    def __init__(self, broken: dict[str, int] | None = None, garbled: tuple[str, ...] = ()):
        self.broken = broken or {}
        self.garbled = set(garbled)
        self.english: dict[str, str] = {}
        self.seen: Counter[str] = Counter()

    def forward(self, text: str) -> str:
        def backwards(match: re.Match) -> str:
            self.english[match.group()[::-1]] = match.group()
            return match.group()[::-1]

        return PLACEHOLDER.join(re.sub(r"[^\W\d_]+", backwards, part) for part in text.split(PLACEHOLDER))

    def back(self, text: str) -> str:
        parts = text.split(PLACEHOLDER)
        return PLACEHOLDER.join(
            re.sub(r"[^\W\d_]+", lambda m: self.english.get(m.group(), m.group()), part) for part in parts
        )

    def __call__(self, body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        if body["model"] != "translator-model":
            return numbered_list(prompt)
        target = re.search(r"^Translate the text below from \w+ into (\w+)\.", prompt).group(1)
        text = re.search(r"<text>\n(.*)\n</text>", prompt, flags=re.S).group(1)
        assert body["temperature"] == 0
        if target == "English":
            return self.back(text)
        assert target == "Swedish"
        assert (f"keep {PLACEHOLDER} exactly as it is" in prompt) == (PLACEHOLDER in text)
        self.seen[text] += 1
        if text in self.garbled:
            return self.forward("completely unrelated words about the weather")
        translation = self.forward(text)
        if self.seen[text] <= self.broken.get(text, 0):
            return translation.replace(PLACEHOLDER, BROKEN_PLACEHOLDER) + " {{"
        return translation
