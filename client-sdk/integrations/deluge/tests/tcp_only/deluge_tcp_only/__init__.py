from deluge import component
from deluge.plugins.init import PluginInitBase
from deluge.plugins.pluginbase import CorePluginBase

_UTP = ('enable_outgoing_utp', 'enable_incoming_utp')


class Core(CorePluginBase):
    def enable(self):
        component.get('Core').apply_session_settings({key: False for key in _UTP})

    def disable(self):
        component.get('Core').apply_session_settings({key: True for key in _UTP})


class CorePlugin(PluginInitBase):
    def __init__(self, plugin_name):
        self._plugin_cls = Core
        super().__init__(plugin_name)
