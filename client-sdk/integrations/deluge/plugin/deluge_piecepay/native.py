"""Loads the native module (_native, built by the Makefile into the egg) into deluged.

A zipped egg cannot be dlopen()ed from: pkg_resources extracts the file to the egg cache
($PYTHON_EGG_CACHE, by default ~/.cache/Python-Eggs) first. The module is loaded once per process and
kept: a shared library cannot be unloaded, and boost.python registers its types only once, so a plugin
disabled and enabled again reuses it.
"""
import importlib.util
import sys
import sysconfig

from pkg_resources import resource_exists, resource_filename

from .errors import PiecepayError

_NAME = __package__ + '._native'
_FFI = 'libpiecepay_ffi.so'


def load():
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    filename = '_native' + sysconfig.get_config_var('EXT_SUFFIX')
    try:
        # The C ABI the module links (found beside it through $ORIGIN) is extracted first.
        if resource_exists(__package__, _FFI):
            resource_filename(__package__, _FFI)
        path = resource_filename(__package__, filename)
        spec = importlib.util.spec_from_file_location(_NAME, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception as ex:  # an ImportError, or the egg cache not writable
        raise PiecepayError(
            'native_unavailable',
            'the native module %s did not load into deluged (Python %s): %s; build the egg for this '
            'Python with `make deluge-plugin`' % (filename, sys.version.split()[0], ex),
        ) from ex
    sys.modules[_NAME] = module
    return module
