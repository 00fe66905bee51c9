"""
:mod:`disco.worker.classic.modutil` -- Disco's old home of :mod:`disco.worker.modutil`
"""
from disco.worker.modutil import *  # noqa: F401,F403
from disco.worker.modutil import ModUtilImportError, find_modules, locate_modules  # noqa: F401
