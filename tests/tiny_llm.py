"""A tiny randomly initialised Llama with its own byte-level BPE tokenizer, built offline.

Its answers are noise, but it exercises everything a real model does in vLLM: loading weights and
config, the tokenizer and its chat template, sampling, stopping. Needs torch, transformers and
tokenizers (the vLLM virtualenv has them)."""

import itertools
from pathlib import Path

BOS, EOS, PAD, TURN = "<s>", "<|im_end|>", "<pad>", "<|im_start|>"
CHAT_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

SENTENCES = {
    "en": [
        "How important is family in your life?",
        "Please answer in one or two sentences.",
        "Most people can be trusted, but one can never be too careful.",
        "Work is a duty towards society.",
        "Homosexuality is never justifiable, or always justifiable, or somewhere in between.",
        "I think that religion gives meaning to life.",
        "Men make better political leaders than women do.",
        "Competition is good because it stimulates people to work hard.",
        "The government should take more responsibility for everyone.",
        "On a scale from one to ten, how satisfied are you with your life?",
        "Imagine you are an ordinary person living in this country.",
        "Answer as yourself, honestly and briefly.",
    ],
    "da": [
        "Hvor vigtig er familien i dit liv?",
        "Svar venligst med en eller to sætninger.",
        "De fleste mennesker er til at stole på, men man kan aldrig være for forsigtig.",
        "Arbejde er en pligt over for samfundet.",
        "Homoseksualitet kan aldrig retfærdiggøres, eller altid, eller et sted midt imellem.",
        "Jeg synes, at religion giver livet mening.",
        "Mænd er bedre politiske ledere end kvinder.",
        "Konkurrence er godt, fordi den får folk til at arbejde hårdt.",
        "Staten bør tage mere ansvar for, at alle er forsørget.",
        "På en skala fra et til ti, hvor tilfreds er du med dit liv?",
        "Forestil dig, at du er en almindelig person, der bor i Danmark.",
        "Svar som dig selv, ærligt og kort.",
    ],
    "nl": [
        "Hoe belangrijk is het gezin in uw leven?",
        "Antwoord alstublieft in een of twee zinnen.",
        "De meeste mensen zijn te vertrouwen, maar je kunt nooit voorzichtig genoeg zijn.",
        "Werken is een plicht tegenover de samenleving.",
        "Homoseksualiteit is nooit goed te praten, of altijd, of ergens daartussenin.",
        "Ik denk dat religie het leven zin geeft.",
        "Mannen zijn betere politieke leiders dan vrouwen.",
        "Concurrentie is goed omdat het mensen aanzet om hard te werken.",
        "De overheid moet meer verantwoordelijkheid nemen voor iedereen.",
        "Op een schaal van een tot tien, hoe tevreden bent u met uw leven?",
        "Stel je voor dat je een gewone inwoner van Nederland bent.",
        "Antwoord als jezelf, eerlijk en kort.",
    ],
    "pt": [
        "Qual é a importância da família na sua vida?",
        "Por favor, responda em uma ou duas frases.",
        "A maioria das pessoas é de confiança, mas nunca se é cuidadoso demais.",
        "Trabalhar é um dever para com a sociedade.",
        "A homossexualidade nunca se justifica, ou sempre se justifica, ou algo entre os dois.",
        "Acho que a religião dá sentido à vida.",
        "Os homens são melhores líderes políticos do que as mulheres.",
        "A concorrência é boa porque estimula as pessoas a trabalhar muito.",
        "O governo deve assumir mais responsabilidade por todos.",
        "Numa escala de um a dez, qual é a sua satisfação com a vida?",
        "Imagine que é uma pessoa comum que vive em Portugal.",
        "Responda como você mesmo, com honestidade e brevidade.",
    ],
}


def corpus() -> list[str]:
    """A few hundred lines: every sentence, and every ordered pair within a language."""
    lines = [sentence for sentences in SENTENCES.values() for sentence in sentences]
    for sentences in SENTENCES.values():
        lines += [f"{first} {second}" for first, second in itertools.permutations(sentences[:6], 2)]
    return lines


def build_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=1024,
        special_tokens=[PAD, BOS, EOS, TURN],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(corpus(), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[TURN],
    )
    wrapped.chat_template = CHAT_TEMPLATE
    return wrapped


def build_tiny_model(directory: Path) -> Path:
    """Save the tokenizer and a two-layer Llama (float32, random weights, seeded) in `directory`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    directory = Path(directory)
    tokenizer = build_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


if __name__ == "__main__":
    import sys

    print(build_tiny_model(Path(sys.argv[1])))
