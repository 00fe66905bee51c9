"""`batch` frames of the master <-> node link (disco/protocol/cluster.py)."""
from __future__ import annotations

import pytest

from disco.protocol import cluster

pytestmark = pytest.mark.timeout(10)


def test_a_batch_carries_its_messages_in_order():
    messages = [cluster.event("j", "MSG: [map:1] a"), cluster.event("j", "DONE: [map:1] b"),
                cluster.task_done("j", 1, 0, [["dir://h/x", [[0, 3]]]])]
    decoded = cluster.decode(cluster.encode(cluster.batch(messages)))
    assert cluster.unbatch(decoded) == (messages, [])


def test_a_plain_message_is_its_own_batch():
    message = cluster.status([], 1, 2)
    assert cluster.unbatch(cluster.decode(cluster.encode(message))) == ([message], [])


def test_bad_items_are_left_out_with_their_problem():
    good = cluster.event("j", "x")
    frame = cluster.decode(cluster.encode(cluster.batch(
        [good, {"op": "task_done", "job": "j"}, "text", cluster.batch([good]), good])))
    items, problems = cluster.unbatch(frame)
    assert items == [good, good]
    assert len(problems) == 3 and "field 'task'" in problems[0]


def test_a_batch_needs_a_list_of_messages():
    with pytest.raises(cluster.LinkProtocolError):
        cluster.decode('{"op":"batch","messages":{}}')


def test_the_welcome_says_the_master_takes_batches():
    assert cluster.welcome(3)["batch"] is True
    assert cluster.decode(cluster.encode(cluster.welcome(3, takes_batches=False)))["batch"] is False
