"""The stand-in backend of a re-analysis: models whose answers arrive already judged
(`judged_import`), so nothing is generated, judged or paid for."""

from culturalign.backends.base import Backend, backend


@backend("imported")
class ImportedAnswers(Backend):
    needs_llm_judge = False
    priced = False
    cached = False
    serves_as_tool = False
    configurable = False

    def generate(self, requests, record=None):
        raise RuntimeError("imported answers are already judged: a re-analysis generates nothing")
