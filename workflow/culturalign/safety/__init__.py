"""The safety stage: harmful and benign prompts per language, wrapped in jailbreak attacks, put to
the evaluated models, judged full_compliance / partial / refusal, and measured as rates with their
gaps from a reference language and their co-analysis with cultural alignment.

sets: our own prompt sets, one per language; external: readers of the prompt sets a user brings;
prompts: the attacked prompts of a language and the requests that put them to a model; refusal:
the refusal-phrase matcher; judge: labelling the answers; rates: what is measured on the labels.

Prompt ids are shared across languages, so that languages are comparable prompt by prompt.
"""


class SafetyError(ValueError):
    """A safety prompt set, attack file or external prompt file that cannot be used as it is."""
