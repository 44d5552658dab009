import time

from culturalign.backends import create_backend
from culturalign.cache import CompletionCache
from culturalign.items import load_items
from culturalign.ledger import ledger_row, model_price
from culturalign.logs import script_log
from culturalign.prompts import load_prompt_bank
from culturalign.translate import (
    load_translation_prompt,
    machine_translated_header,
    translate_prompt_bank,
    write_prompt_bank,
)

with script_log(snakemake.log[0]) as log:
    params, inputs, output = snakemake.params, snakemake.input, snakemake.output
    language, translator, settings = snakemake.wildcards.language, params.translator, params.settings
    english = load_prompt_bank("en", load_items(inputs.item_bank), inputs.templates)
    log.info(
        "%s translates %d templates and %d topic paraphrases into %s, and back",
        translator,
        len(english.templates),
        sum(map(len, english.topics.values())),
        language,
    )
    started = time.perf_counter()
    bank, review, calls = translate_prompt_bank(
        english,
        load_translation_prompt(inputs.prompt),
        create_backend(translator, settings, batch_state=params.state),
        CompletionCache(params.cache),
        settings=settings,
        language=language,
        max_attempts=params.max_attempts,
        min_chrf=params.min_chrf,
    )
    seconds = time.perf_counter() - started
    flagged = review.filter("flagged")
    log.info(
        "chrF of the back-translations: median %.1f, %d below %s",
        review["chrf"].median(),
        flagged.height,
        params.min_chrf,
    )
    for item, index, source, translation, back, chrf in flagged.drop("kind", "flagged").iter_rows():
        log.warning(
            "flagged %s[%d] (chrF %.1f): %r -> %r -> %r",
            item or "templates",
            index,
            chrf,
            source,
            translation,
            back,
        )
    header = machine_translated_header(language, translator, settings, output.review)
    write_prompt_bank(bank, output.templates, output.topics, header)
    review.write_csv(output.review)
    ledger_row(
        calls,
        stage="translate",
        model=translator,
        language=language,
        seed=0,
        seconds=seconds,
        price=model_price(settings, inputs.prices),
    ).write_csv(output.ledger)
