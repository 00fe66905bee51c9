"""The runnable examples and `disco test`, on the embedded-default cluster shape."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from collections import Counter

import pytest

from tests.cli.helpers import EXAMPLES, disco

pytestmark = pytest.mark.timeout(150)


def test_wordcount_example(single_node_cluster, tmp_path):
    text = "the cat and the dog\nthe end\n"
    path = tmp_path / "story.txt"
    path.write_text(text)
    result = subprocess.run([sys.executable, str(EXAMPLES / "wordcount.py"), str(path)],
                            env=single_node_cluster.client_env(), capture_output=True,
                            text=True, timeout=140)
    assert result.returncode == 0, result.stderr
    printed = {word: int(count) for count, word in
               (line.split() for line in result.stdout.splitlines())}
    assert printed == Counter(text.split())


def test_make_corpus_example(tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / "make_corpus.py"), str(tmp_path),
                             "--size", "20000", "--parts", "2"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    paths = result.stdout.split()
    assert len(paths) == 2 and all(p.startswith(str(tmp_path)) for p in paths)


TEST_MODULE = '''
from disco.test import TestCase, TestJob


class Doubles(TestJob):
    @staticmethod
    def map(line, params):
        yield int(line) * 2, ""


class DoublesTestCase(TestCase):
    def test_doubles(self):
        self.job = Doubles().run(input=["raw://1", "raw://2"])
        self.assertEqual(sorted(k for k, v in self.results(self.job)), [2, 4])
'''


def test_disco_test_command(single_node_cluster, tmp_path):
    (tmp_path / "test_tiny.py").write_text(textwrap.dedent(TEST_MODULE))
    result = disco(single_node_cluster, "test", "test_tiny", cwd=tmp_path, check=False,
                   timeout=140)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stderr
