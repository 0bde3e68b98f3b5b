"""The web UI part: serves piecepay.js (columns per torrent, a wallet panel) to deluge-web."""
from deluge.plugins.pluginbase import WebPluginBase

from .common import get_resource


class WebUI(WebPluginBase):
    scripts = [get_resource('piecepay.js')]
    debug_scripts = scripts
