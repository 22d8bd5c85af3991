"""Generation settings as users set them: ``--gen-kwargs key=value,...`` in lmms-eval's form.

Values are typed as lmms-eval types them (``true``/``false`` booleans, integers, numbers, the rest
text). A transformers model passes them to ``generate`` over its own settings; an
OpenAI-compatible endpoint gets them as the fields of its request that mean the same, and a
setting that has no such field is refused before anything is asked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mmhay.errors import ConfigError

__all__ = ["HF_GENERATION", "API_FIELDS", "parse_gen_kwargs", "check_generation", "check_hf_generation", "api_fields"]

_FLAG = "--gen-kwargs"


def _at_least(low: float, kinds: tuple = (int, float)):
    return lambda value: isinstance(value, kinds) and not isinstance(value, bool) and value >= low


def _probability(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1


def _boolean(value) -> bool:
    return isinstance(value, bool)


# the decoding settings of transformers' ``generate`` that keep one text per request, each with
# what its value must be; the rest (return_dict_in_generate, num_return_sequences, ...) would
# change what generate returns
HF_GENERATION: dict[str, tuple[Any, str]] = {
    "max_new_tokens": (_at_least(1, (int,)), "an integer of at least 1"),
    "min_new_tokens": (_at_least(0, (int,)), "an integer of at least 0"),
    "do_sample": (_boolean, "true or false"),
    "temperature": (_at_least(0), "a number of at least 0"),
    "top_p": (_probability, "a number in 0..1"),
    "top_k": (_at_least(0, (int,)), "an integer of at least 0"),
    "min_p": (_probability, "a number in 0..1"),
    "typical_p": (_probability, "a number in 0..1"),
    "num_beams": (_at_least(1, (int,)), "an integer of at least 1"),
    "num_beam_groups": (_at_least(1, (int,)), "an integer of at least 1"),
    "diversity_penalty": (_at_least(0), "a number of at least 0"),
    "length_penalty": (_at_least(float("-inf")), "a number"),
    "early_stopping": (lambda value: isinstance(value, bool) or value == "never", "true, false or never"),
    "repetition_penalty": (_at_least(0), "a number of at least 0"),
    "no_repeat_ngram_size": (_at_least(0, (int,)), "an integer of at least 0"),
}

# --gen-kwargs key -> the chat completions field that means the same. top_k, min_p and
# repetition_penalty are the sampling fields vLLM and SGLang accept beside OpenAI's own.
API_FIELDS = {
    "max_new_tokens": "max_tokens",
    "max_tokens": "max_tokens",
    "temperature": "temperature",
    "top_p": "top_p",
    "seed": "seed",
    "presence_penalty": "presence_penalty",
    "frequency_penalty": "frequency_penalty",
    "stop": "stop",
    "top_k": "top_k",
    "min_p": "min_p",
    "repetition_penalty": "repetition_penalty",
}


def parse_gen_kwargs(text: str | None) -> dict[str, Any]:
    """``"temperature=0.2,num_beams=3,do_sample=true"`` -> ``{"temperature": 0.2, "num_beams": 3, "do_sample": True}``."""
    if not text or not text.strip():
        return {}
    settings: dict[str, Any] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(_FLAG, "", f"expected key=value pairs separated by commas, got {part!r}")
        if key in settings:
            raise ConfigError(_FLAG, key, "is given twice")
        settings[key] = _typed(value)
    return settings


def _typed(value: str) -> Any:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def check_hf_generation(settings: Mapping[str, Any]) -> None:
    """Refuse a setting ``generate`` is not given this way, or a value out of its range."""
    for key, value in settings.items():
        if key not in HF_GENERATION:
            raise ConfigError(_FLAG, key, f"is not a decoding setting mmhay passes to generate; expected one of: {', '.join(HF_GENERATION)}")
        valid, expected = HF_GENERATION[key]
        if not valid(value):
            raise ConfigError(_FLAG, key, f"must be {expected}", value)


def api_fields(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The chat completions fields ``settings`` set; ``do_sample=false`` asks for temperature 0.

    Raises ``ConfigError`` for a setting the API has no field for (``num_beams``: no endpoint
    searches beams).
    """
    fields: dict[str, Any] = {}
    for key, value in settings.items():
        if key == "do_sample":
            if not isinstance(value, bool):
                raise ConfigError(_FLAG, key, "must be true or false", value)
            if not value and "temperature" not in settings:
                fields["temperature"] = 0.0
            continue
        if key not in API_FIELDS:
            raise ConfigError(_FLAG, key, f"has no field in the chat completions API; the API takes: {', '.join(['do_sample', *API_FIELDS])}")
        fields[API_FIELDS[key]] = value
    return fields


def check_generation(adapter, settings: Mapping[str, Any], scoring: str = "generate") -> None:
    """Refuse ``--gen-kwargs`` the model cannot take, before anything is asked: a model that
    generates nothing (a baseline, likelihood scoring), or a setting it has no use for."""
    if not settings:
        return
    if scoring != "generate":
        raise ConfigError(_FLAG, "", f"--scoring {scoring} generates nothing: decoding settings do not apply")
    check = getattr(adapter, "check_generation", None)
    if check is not None:
        check(settings)
    elif adapter.identity().get("adapter") == "hf":
        check_hf_generation(settings)
    else:
        raise ConfigError(_FLAG, "", f"{adapter.name} takes no decoding settings (hf and openai models do)")
