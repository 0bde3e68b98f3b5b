"""Fixtures: the egg under test (built by `make deluge-plugin`), real deluged daemons stopped after
each test (their log tails printed when it failed), and the plugin's pure modules loaded on their own."""
import importlib.util
import os
import sys

import pytest

import torrents
from deluged import Deluged, built_egg
from paid import PaidSetup
from scripted import TOTALS, WALLET, script

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN = os.path.join(HERE, '..', 'plugin', 'deluge_piecepay')


def _pure_package():
    # settings.py, errors.py and agent_config.py import nothing from Deluge: load them as the package
    # deluge_piecepay without its __init__ (which needs Deluge, installed for Debian's Python only).
    spec = importlib.machinery.ModuleSpec('deluge_piecepay', None, is_package=True)
    package = importlib.util.module_from_spec(spec)
    package.__path__ = [PLUGIN]
    sys.modules['deluge_piecepay'] = package


_pure_package()


@pytest.fixture(scope='session')
def egg():
    return built_egg('PIECEPAY_DELUGE_EGG')


@pytest.fixture(scope='session')
def scripted_egg():
    return built_egg('PIECEPAY_DELUGE_SCRIPTED_EGG')


@pytest.fixture
def daemons(tmp_path, egg, scripted_egg, request):
    """daemons(name, plugin=True, env=None) starts a deluged (plugin: True, False, or 'scripted' for the
    egg whose payments follow a script, native/payments_scripted.cpp); all are stopped after the test."""
    started = []

    def start(name, plugin=True, env=None):
        chosen = scripted_egg if plugin == 'scripted' else egg if plugin else None
        d = Deluged(str(tmp_path), name, chosen, env)
        started.append(d)
        return d.start()

    yield start
    failed = getattr(request.node, 'failed', False)
    for d in started:
        d.stop()
        if failed:
            print('--- %s log (%s) ---\n%s' % (d.name, d.log_path, d.log_tail()))


@pytest.fixture
def running(daemons, tmp_path):
    """(d, torrent id): a deluged whose plugin runs scripted payments, unlocked over RPC, seeding one torrent."""
    keystore, manifest = tmp_path / 'key.json', tmp_path / '31337.json'
    keystore.write_text('{}')
    manifest.write_text('{}')
    d = daemons('one', plugin='scripted')
    torrent, tid = torrents.make(d.download_dir, 'paid.bin', 1024 * 1024)
    d.add_torrent(torrent, seed=True)
    script(d, totals={tid: TOTALS}, wallet=WALLET, closed=3)
    d.rpc('piecepay.set_config', {'keystore': str(keystore), 'manifest': str(manifest), 'relayer_urls': ['http://127.0.0.1:9'],
                                  'price': '5'})
    status = d.rpc('piecepay.unlock', 'pass phrase')
    assert (status['state'], status['payments']) == ('running', 'scripted (tests only)')
    return d, tid


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == 'call' and report.failed:
        item.failed = True


@pytest.fixture
def devnet(tmp_path):
    """A devnet with the relayer (tests/paid.py), stopped after the test."""
    setup = PaidSetup(str(tmp_path))
    yield setup
    setup.stop()
