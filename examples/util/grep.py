"""grep as a Job class: the matching is done by the map reader (Disco's util example).

    cd examples/util
    disco run grep.Grep --param pattern 'd.*?co' tag://data:texts | xargs disco wait

Results are ``(url, line)`` for every line that matches ``pattern`` at its start
(``re.match``). Text inputs are bytes lines, so the pattern is compiled as bytes.
"""
import re

from disco.job import Job
from disco.worker.classic.func import nop_map


class Grep(Job):
    map = staticmethod(nop_map)
    params = {}

    @staticmethod
    def map_reader(fd, size, url, params):
        pattern = params.get('pattern') if isinstance(params, dict) else params
        if not pattern:
            return
        if isinstance(pattern, str):
            pattern = pattern.encode('utf-8')
        matcher = re.compile(pattern)
        for line in fd:
            if isinstance(line, str):
                line = line.encode('utf-8')
            if matcher.match(line):
                yield url, line
