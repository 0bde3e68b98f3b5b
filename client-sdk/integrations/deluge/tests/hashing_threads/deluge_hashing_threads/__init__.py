import os

from deluge import component
from deluge.plugins.init import PluginInitBase
from deluge.plugins.pluginbase import CorePluginBase


class Core(CorePluginBase):
    """The piecepay plugin's rule (HashingThreads::raise): max(the host's value, cores)."""

    def enable(self):
        core = component.get('Core')
        self._host = core.session.get_settings()['hashing_threads']
        core.apply_session_settings({'hashing_threads': max(self._host, os.cpu_count() or 1)})

    def disable(self):
        component.get('Core').apply_session_settings({'hashing_threads': self._host})


class CorePlugin(PluginInitBase):
    def __init__(self, plugin_name):
        self._plugin_cls = Core
        super().__init__(plugin_name)
