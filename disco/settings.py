"""Disco settings: :class:`DiscoSettings` (layer 0, stdlib only).

Every setting of Disco 0.5.4 keeps its name and meaning. A value comes from, in order:
an explicit item (``DiscoSettings(DISCO_PORT=9000)`` or ``settings['X'] = v``), the
environment (a string), the settings file (``DISCO_SETTINGS_FILE``, default ``~/.disco``
then ``/etc/disco/settings.py``; parsed as data, never executed, see :mod:`clx.settings`),
then the defaults of the settings table (:mod:`disco.settings_table`, the only source of
defaults), which may derive from other settings.

``settings['X']`` behaves as in Disco (environment values are strings). Our own code uses
the typed accessors ``get_int``, ``get_float``, ``get_bool``, ``get_str``, ``get_path``.

Defaults that differ from Disco: ``DISCO_HOME`` is ``~/.local/share/disco`` when no
``.disco-home`` marker is found above the package (a pip install has no source tree), and
``DISCO_MASTER_HOST`` is ``localhost`` (servers listen on loopback unless told otherwise).
Every setting, with its type and help: docs/settings.md (generated from the table).
"""
from __future__ import annotations

import json
import logging
import os
from typing import Any

from clx.settings import Settings

from disco import settings_table
from disco.error import ConfigError
from disco.settings_table import guess_home, guess_settings, job_owner  # noqa: F401

log = logging.getLogger(__name__)

#: name -> default, as Disco's ``DiscoSettings.defaults`` (compatibility names; the table in
#: disco/settings_table.py is the one source)
DISCO_DEFAULTS: dict[str, Any] = {s.name: s.default for s in settings_table.DISCO_SETTINGS}
OUR_DEFAULTS: dict[str, Any] = {s.name: s.default for s in settings_table.OUR_SETTINGS}


#: Directories :meth:`DiscoSettings.ensuredirs` creates.
MUST_EXIST = ("DISCO_DATA", "DISCO_ROOT", "DISCO_MASTER_HOME", "DISCO_MASTER_ROOT",
              "DISCO_LOG_DIR", "DISCO_PID_DIR", "DDFS_DATA")


class DiscoSettings(Settings):
    """Disco's settings; see the module docstring for the resolution order."""

    defaults = settings_table.defaults()
    must_exist = MUST_EXIST
    settings_file_var = "DISCO_SETTINGS_FILE"
    error_class = ConfigError

    def ensuredirs(self) -> None:
        """Create the data/log/pid directories and a one-node cluster config if missing."""
        for name in self.must_exist:
            self.safedir(name)
        config = self.get_path("DISCO_MASTER_CONFIG")
        if not os.path.exists(config):
            os.makedirs(os.path.dirname(config), exist_ok=True)
            with open(config, "w", encoding="utf-8") as f:
                f.write(json.dumps([["localhost", str(os.cpu_count() or 1)]]))

    def typed(self) -> Any:
        """A frozen, typed snapshot of every setting (:func:`disco.settings_table.typed`)."""
        return settings_table.typed(self)

