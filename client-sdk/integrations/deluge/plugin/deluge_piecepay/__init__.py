"""piecepay for Deluge 2: pay-per-piece through the client agent, inside Deluge's own libtorrent session.

Deluge loads these entry points (setup.py) from the egg; each imports its part only when enabled.
"""
from deluge.plugins.init import PluginInitBase


class CorePlugin(PluginInitBase):
    def __init__(self, plugin_name):
        from .core import Core as _plugin_cls

        self._plugin_cls = _plugin_cls
        super().__init__(plugin_name)


class WebUIPlugin(PluginInitBase):
    def __init__(self, plugin_name):
        from .webui import WebUI as _plugin_cls

        self._plugin_cls = _plugin_cls
        super().__init__(plugin_name)
