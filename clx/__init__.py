"""clx: the small settings/CLI helper package Disco ships beside ``disco``.

Only :mod:`clx.settings` is provided (the :class:`~clx.settings.Settings` base of
:class:`disco.settings.DiscoSettings`); Disco's CLI framework lives in :mod:`disco.cli`.
"""
