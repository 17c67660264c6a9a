"""Random, readable run names: ``adjective-noun-123``, as MLflow makes them."""

from __future__ import annotations

import random

_ADJECTIVES = (
    "agile amber ample bold brave bright calm clever cosmic crisp curious dapper daring "
    "eager earnest fancy fearless gentle glossy golden graceful happy hearty honest humble "
    "jolly keen kind lively lucky merry mighty modest nimble noble patient placid polite "
    "proud quick quiet rare rustic serene sharp shy silent sleek smooth snappy spry stellar "
    "sunny swift tender thoughtful tidy upbeat valiant vivid warm wise witty zealous"
).split()
_NOUNS = (
    "ant badger bass bear bee bird boar cat cod colt crab crane crow deer dog dolphin dove "
    "duck eagle eel elk falcon finch fox frog gnu goat goose gull hare hawk hen heron horse "
    "ibis jay koala lark lion lynx mole moose moth mouse newt owl ox panda perch pig pike "
    "pony quail ram rat raven robin seal shark sheep shrew skink sloth snail snake squid "
    "stag swan tern toad trout turtle vole wasp whale wolf wren yak zebra"
).split()


def random_name(rng: random.Random | None = None) -> str:
    r = rng or random
    return f"{r.choice(_ADJECTIVES)}-{r.choice(_NOUNS)}-{r.randint(100, 999)}"
