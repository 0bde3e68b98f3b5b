"""The piecepay plugin for Deluge 2: built as an egg by `make deluge-plugin` (client-sdk/integrations/deluge).

The native module (_native*.so, built by the Makefile against Debian's libtorrent and boost.python) must
be in deluge_piecepay/ before this runs; the Makefile stages both.
"""
from setuptools import setup

__plugin_name__ = 'Piecepay'
__version__ = '0.1.0'

setup(
    name=__plugin_name__,
    version=__version__,
    description='Pay-per-piece for BitTorrent: Deluge pays the peers it downloads from and is paid for what it uploads',
    author='piecepay',
    license='MIT OR Apache-2.0',
    long_description=__doc__,
    packages=['deluge_piecepay'],
    package_data={'deluge_piecepay': ['data/*', '_native*.so', 'libpiecepay_ffi.so']},
    # The native module cannot be imported from inside a zip: it is extracted to the egg cache first.
    zip_safe=False,
    entry_points="""
    [deluge.plugin.core]
    %s = deluge_piecepay:CorePlugin
    [deluge.plugin.web]
    %s = deluge_piecepay:WebUIPlugin
    """
    % ((__plugin_name__,) * 2),
)
