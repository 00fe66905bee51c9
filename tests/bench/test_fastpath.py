"""The classic map's fast paths give exactly what Disco's per-pair loop gives."""
from __future__ import annotations

import random

import pytest

from disco.worker.classic import fastpath
from disco.worker.classic.func import default_partition, sum_combiner


def reference(entries, fun_map, params, partition, partitions, combiner):
    """The per-pair loop of `Worker.map_combined` before the fast path: {label: [pairs]}."""
    out: dict = {}
    buffers: dict = {}
    for entry in entries:
        for key, value in fun_map(entry, params):
            label = int(partition(key, partitions, params)) if partitions else None
            buffer = buffers.setdefault(label, {})
            for record in combiner(key, value, buffer, False, params) or ():
                out.setdefault(label, []).append(record)
    for label, buffer in buffers.items():
        for record in combiner(None, None, buffer, True, params) or ():
            out.setdefault(label, []).append(tuple(record))
    return out


def collect(entries, fun_map, params, partition, partitions):
    out: dict = {}

    def adder(label):
        return lambda k, v: out.setdefault(label, []).append((k, v))
    fastpath.map_summed(entries, fun_map, params, partition, partitions, adder)
    return out


def words_map(line, params):
    for word in line.split():
        yield word, 1


def mixed_map(entry, params):
    # text keys first, then keys equal as numbers but not as repr: 1, 1.0, True
    yield from entry


def lines(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    vocab = [b"w%d" % i for i in range(300)]
    return [b" ".join(rng.choice(vocab) for _ in range(rng.randint(1, 12)))
            for _ in range(count)]


@pytest.mark.parametrize("partitions", [0, 1, 2, 7])
def test_sum_of_text_keys_matches_disco(partitions):
    data = lines(1, 500)
    assert collect(data, words_map, None, default_partition, partitions) == \
        reference(data, words_map, None, default_partition, partitions, sum_combiner)


@pytest.mark.parametrize("partitions", [0, 3])
def test_mixed_key_types_keep_separate_labels_and_order(partitions):
    data = [[(b"a", 1), ("a", 2), (b"b", "3")], [(1, 1), (1.0, 2), (True, 4), (b"a", 5)],
            [((1, 2), 1), (b"c", 1), (1, 1)]]
    assert collect(data, mixed_map, None, default_partition, partitions) == \
        reference(data, mixed_map, None, default_partition, partitions, sum_combiner)


def test_own_partition_function_called_per_pair():
    calls = []

    def partition(key, n, params):
        calls.append(key)
        return len(key) % n
    data = lines(2, 50)
    expected = reference(data, words_map, None, partition, 3, sum_combiner)
    count = len(calls)
    calls.clear()
    assert collect(data, words_map, None, partition, 3) == expected
    assert len(calls) == count


def test_labeller_memoizes_default_partition_only_for_text():
    label = fastpath.labeller(default_partition, 5, None)
    for key in (b"x", "x", 1, 1.0, True, (1, "a")):
        assert label(key) == default_partition(key, 5, None)
        assert label(key) == default_partition(key, 5, None)
    assert fastpath.labeller(default_partition, 0, None)(b"x") is None


def dedup_combiner(key, value, buf, done, params):
    if done:
        return ((k, b"") for k in buf)
    buf[key] = 1


@pytest.mark.parametrize("partitions", [0, 1])
@pytest.mark.parametrize("data", [lines(3, 200), []])
def test_one_buffer_combiner_matches_disco(partitions, data):
    out: dict = {}

    def adder(label):
        return lambda k, v: out.setdefault(label, []).append((k, v))
    constant, label = fastpath.constant_label(default_partition, partitions)
    assert constant
    fastpath.map_one_buffer(data, words_map, None, dedup_combiner, label, adder)
    assert out == reference(data, words_map, None, default_partition, partitions,
                            dedup_combiner)


def chunky_map(entry, params):
    # many (word, 1) pairs, then occasionally other values and keys, across chunk borders
    kind, words = entry
    for word in words.split():
        if kind == "ones":
            yield word, 1
        elif kind == "counts":
            yield word, "7"
        elif kind == "bools":
            yield word, True
        else:
            yield 1.0, 2
            yield word, 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("partitions", [0, 2, 5])
def test_sums_match_disco_with_other_values_and_keys_midway(partitions):
    text = lines(4, 3000)
    data = [("ones", line) for line in text[:1500]] + [("counts", text[1500])] + \
        [("ones", line) for line in text[1501:2500]] + [("bools", text[2500])] + \
        [("mixed", text[2501])] + [("ones", line) for line in text[2502:]]
    assert collect(data, chunky_map, None, default_partition, partitions) == \
        reference(data, chunky_map, None, default_partition, partitions, sum_combiner)


def test_a_map_yielding_non_pairs_fails_as_disco():
    def bad_map(entry, params):
        yield b"a", 1
        yield (b"b", 1, 2)

    with pytest.raises(ValueError, match="too many values to unpack"):
        collect([b"x"], bad_map, None, default_partition, 2)
