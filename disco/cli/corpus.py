"""The demo corpus (layer: top, stdlib only): deterministic pseudo-English text.

Word frequencies follow Zipf's law over a vocabulary of common English words followed by
invented ones, so the most frequent words are predictable ("the", "of", "and" ...) and a
test can compare a job's counts with :func:`expected_counts`. Nothing is shipped: the
text is generated from a seed, a few hundred KB in a fraction of a second.
"""
from __future__ import annotations

import os
import random
from collections import Counter

#: Common English words by rank; the generator weighs word k by 1/(k+1) (Zipf).
COMMON_WORDS = """
the of and to a in that it was he is for with as his on be at by had not are but from or
have an they which one you were all her she there would their we him been has when who
will more no if out so said what up its about into than them can only other new some time
could these two may then do first any my now such like our over man me even most made
after also did many before must through back years where much your way well down should
because each just those people how too little state good very make world still own see men
work long get here between both life being under never day same another know while last
might us great old year off come since against go came right used take three river forest
mountain village harbour lantern meadow orchard valley bridge winter summer morning evening
garden island journey letter window stone silver candle thunder sparrow wheat barley miller
weaver sailor baker shepherd traveller kettle ribbon meadowlark willow hazel bramble
""".split()

#: Extra, rarer words built from syllables, so the vocabulary has a long tail.
SYLLABLES = "ka lo mi ner ta ven sol dar ith ul bre gan fo rim sa tel mor quin".split()


def vocabulary(rng: random.Random, extra: int = 800) -> list[str]:
    """The common words followed by `extra` invented ones (deterministic for `rng`)."""
    invented = []
    seen = set(COMMON_WORDS)
    while len(invented) < extra:
        word = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3)))
        if word not in seen:
            seen.add(word)
            invented.append(word)
    return COMMON_WORDS + invented


def generate_lines(size: int, seed: int = 54) -> list[str]:
    """About `size` bytes of text lines, deterministic for `seed`."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]
    lines, total = [], 0
    while total < size:
        line = " ".join(rng.choices(words, weights, k=rng.randint(6, 14)))
        lines.append(line)
        total += len(line) + 1
    return lines


def write_corpus(directory: str, size: int = 300_000, parts: int = 4, seed: int = 54) -> list[str]:
    """Write the corpus as `parts` files in `directory` (reused if already there)."""
    os.makedirs(directory, exist_ok=True)
    paths = [os.path.join(directory, f"corpus-{size}-{seed}-{i}.txt") for i in range(parts)]
    if all(os.path.exists(p) for p in paths):
        return paths
    lines = generate_lines(size, seed)
    share = -(-len(lines) // parts)
    for i, path in enumerate(paths):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines[i * share:(i + 1) * share])
        os.replace(tmp, path)
    return paths


def expected_counts(size: int = 300_000, seed: int = 54) -> Counter:
    """Word counts of the corpus, computed locally (what the job must produce)."""
    return Counter(word for line in generate_lines(size, seed) for word in line.split())
