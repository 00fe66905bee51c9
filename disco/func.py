"""
:mod:`disco.func` -- Disco's old name for :mod:`disco.worker.classic.func`
"""
from disco.worker.classic.func import *  # noqa: F401,F403
from disco.worker.classic.func import (chain_reader, default_partition, map_input_stream,  # noqa: F401
                                       nop_map, nop_reduce, reduce_output_stream)
