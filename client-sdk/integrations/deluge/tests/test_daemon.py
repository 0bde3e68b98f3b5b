"""The plugin inside real deluged daemons, driven over Deluge's RPC: loading, settings, status fields,
errors reported while deluged keeps serving, disable/enable at runtime."""
import json
import os
import re

import pytest
from deluge_client.client import RemoteException

import torrents
from deluged import READER, wait_for

# The agent's threads (its tokio runtime, its workers): none may outlive a disable.
AGENT_THREADS = re.compile(r'^(piecepay|tokio)')
FIELDS = ['piecepay_spent', 'piecepay_earned', 'piecepay_pending', 'piecepay_peers_paying', 'piecepay_peers_paid']


def remote_error(call, *args, **kwargs):
    with pytest.raises(RemoteException) as info:
        call(*args, **kwargs)
    return type(info.value).__name__, str(info.value)


def not_authorized(d, method, *args):
    # Deluge answers NotAuthorizedError(level, required); deluge-client 1.10 then fails to join its
    # integer arguments into a message (TypeError) and leaves its connection mid-message: drop it.
    with pytest.raises((RemoteException, TypeError)):
        d.rpc(method, *args, user=READER)
    d.forget(READER)
    assert d.rpc('piecepay.get_status', user=READER)['state']  # reading is allowed


def settled_status(d):
    return wait_for('the payments to leave "starting"',
                    lambda: (lambda s: s if s['state'] != 'starting' else None)(d.rpc('piecepay.get_status')))


def transfer(seeder, leecher, tmp_path, size=4 * 1024 * 1024, name='content.bin'):
    """A torrent seeded by `seeder`, downloaded by `leecher` over loopback; returns its id."""
    torrent, info_hash = torrents.make(seeder.download_dir, name, size)
    assert seeder.add_torrent(torrent, seed=True) == info_hash
    assert leecher.add_torrent(torrent) == info_hash
    leecher.connect_to(info_hash, seeder)
    return info_hash


def test_the_plugin_loads_into_delugeds_session(daemons):
    d = daemons('one')
    assert 'Piecepay' in d.rpc('core.get_enabled_plugins')
    methods = d.rpc('daemon.get_method_list')
    for m in ('get_config', 'set_config', 'unlock', 'get_status', 'get_totals', 'get_balances', 'withdraw', 'close_all'):
        assert 'piecepay.' + m in methods
    status = settled_status(d)
    assert status['state'] == 'off' and status['error_code'] == ''
    assert status['libtorrent'] == '2.0.8.0'
    # The port libtorrent reports to the native module is the one Deluge's core listens on: the module
    # holds Deluge's own session, not a copy.
    assert status['session_port'] == d.rpc('core.get_listen_port') == d.peer_port
    assert 'piecepay: enabled (libtorrent 2.0.8.0' in d.log_text()


def test_settings_are_checked_saved_and_kept_across_a_restart(daemons):
    d = daemons('one')
    assert d.rpc('piecepay.get_config')['credit_window'] == 64
    d.rpc('piecepay.set_config', {'price': 1000, 'credit_window': 16, 'relayer_urls': 'http://127.0.0.1:9/'})
    config = d.rpc('piecepay.get_config')
    # Deluge's RPC encoding (rencode) turns lists into tuples.
    assert (config['price'], config['credit_window'], list(config['relayer_urls'])) == ('1000', 16, ['http://127.0.0.1:9'])

    kind, text = remote_error(d.rpc, 'piecepay.set_config', {'price': '2000', 'credit_window': 0})
    assert kind == 'DelugeError' and text.startswith('error[invalid_setting]: credit_window ')
    assert d.rpc('piecepay.get_config')['price'] == '1000', 'a refused change must change nothing'
    kind, text = remote_error(d.rpc, 'piecepay.set_config', {'max_prise': '1'})
    assert text.startswith('error[unknown_setting]: max_prise ')
    # Changing settings and moving money are for Deluge's admin level only.
    for method, args in (('piecepay.set_config', [{'price': '1'}]), ('piecepay.withdraw', []), ('piecepay.unlock', ['pw'])):
        not_authorized(d, method, *args)
    assert d.rpc('piecepay.get_config')['price'] == '1000'

    d.stop()
    with open(os.path.join(d.config_dir, 'piecepay.conf')) as f:
        assert '"price": "1000"' in f.read()
    d.start()
    assert d.rpc('piecepay.get_config')['credit_window'] == 16


def test_status_fields_reach_deluges_status_api(daemons, tmp_path):
    seeder, leecher = daemons('seeder'), daemons('leecher', plugin=False)
    tid = transfer(seeder, leecher, tmp_path)
    status = seeder.status(tid, FIELDS + ['name'])
    assert {k: status[k] for k in FIELDS} == {
        'piecepay_spent': '0', 'piecepay_earned': '0', 'piecepay_pending': '0',
        'piecepay_peers_paying': 0, 'piecepay_peers_paid': 0}
    # In the list the web UI reads too, and in the plugin's own per-torrent view.
    listed = seeder.rpc('core.get_torrents_status', {'id': [tid]}, FIELDS)[tid]
    assert set(listed) == set(FIELDS)
    assert seeder.rpc('piecepay.get_totals')[tid]['earned'] == '0'
    # A deluged without the plugin has no such fields: they are the plugin's.
    leecher.wait_finished(tid)
    assert not set(FIELDS) & set(leecher.status(tid, FIELDS))


def test_a_missing_keystore_is_reported_and_deluged_keeps_serving(daemons, tmp_path):
    seeder, leecher = daemons('seeder'), daemons('leecher', plugin=False)
    manifest = tmp_path / '31337.json'
    manifest.write_text('{}')
    missing = str(tmp_path / 'nowhere' / 'key.json')
    status = seeder.rpc('piecepay.set_config', {'keystore': missing, 'manifest': str(manifest),
                                                'relayer_urls': ['http://127.0.0.1:9']})
    assert status['state'] == 'error' and status['error_code'] == 'keystore_missing'
    assert missing in status['error']
    assert 'piecepay: error[keystore_missing]: wallet keystore %s does not exist' % missing in seeder.log_text()
    kind, text = remote_error(seeder.rpc, 'piecepay.get_balances')
    assert kind == 'DelugeError' and text.startswith('error[not_running]: payments are error: wallet keystore')
    # Torrents are served all the same.
    tid = transfer(seeder, leecher, tmp_path)
    leecher.wait_finished(tid)
    assert seeder.alive()


def test_a_locked_wallet_waits_for_its_password_and_gets_it_over_rpc(daemons, tmp_path):
    keystore, manifest = tmp_path / 'key.json', tmp_path / '31337.json'
    keystore.write_text('{}')
    manifest.write_text('{}')
    d = daemons('one')
    status = d.rpc('piecepay.set_config', {'keystore': str(keystore), 'manifest': str(manifest),
                                           'relayer_urls': ['http://127.0.0.1:9'], 'price': '5'})
    assert (status['state'], status['error_code']) == ('locked', 'password_missing')
    assert 'PIECEPAY_PASSWORD' in status['error']
    remote_error(d.rpc, 'piecepay.unlock', '')
    # The password goes to the agent, which cannot open this keystore (it is not one) and says so.
    status = d.rpc('piecepay.unlock', 'correct horse')
    assert (status['state'], status['error_code']) == ('error', 'wallet')
    assert 'error[wallet]' in d.log_text()
    # Never written anywhere: not in the settings, not in the agent's config, not in the log.
    for path in (os.path.join(d.config_dir, 'piecepay.conf'), os.path.join(d.config_dir, 'piecepay', 'agent.toml'), d.log_path):
        with open(path) as f:
            assert 'correct horse' not in f.read(), path


def test_the_password_can_come_from_delugeds_environment(daemons, tmp_path):
    keystore, manifest = tmp_path / 'key.json', tmp_path / '31337.json'
    keystore.write_text('{}')
    manifest.write_text('{}')
    d = daemons('one', env={'MY_WALLET_PASSWORD': 'from env'})
    status = d.rpc('piecepay.set_config', {'keystore': str(keystore), 'manifest': str(manifest),
                                           'rpc_url': 'http://127.0.0.1:9', 'password_env': 'MY_WALLET_PASSWORD',
                                           'price': '5'})
    # Past "locked": the password was found, so the agent was asked to start (and refused the keystore).
    assert (status['state'], status['error_code']) == ('error', 'wallet')


def test_disable_and_enable_at_runtime_while_serving(daemons, tmp_path):
    seeder, leecher = daemons('seeder'), daemons('leecher', plugin=False)
    settled_status(seeder)
    tid = transfer(seeder, leecher, tmp_path, size=16 * 1024 * 1024)
    for _ in range(3):
        assert seeder.rpc('core.disable_plugin', 'Piecepay') is True
        assert 'Piecepay' not in seeder.rpc('core.get_enabled_plugins')
        # Nothing of the plugin is left: no RPC method, no status field, no thread.
        assert not [m for m in seeder.rpc('daemon.get_method_list') if m.startswith('piecepay.')]
        assert not set(FIELDS) & set(seeder.status(tid, FIELDS))
        assert not [t for t in seeder.thread_names() if AGENT_THREADS.match(t)]
        assert seeder.rpc('core.enable_plugin', 'Piecepay') is True
        assert settled_status(seeder)['state'] == 'off'
        assert set(FIELDS) <= set(seeder.status(tid, FIELDS))
    leecher.wait_finished(tid)
    assert seeder.alive()
    with open(os.path.join(seeder.config_dir, 'core.conf')) as f:
        assert 'Piecepay' in json.loads(f.read().split('}', 1)[1])['enabled_plugins']


def test_killed_mid_transfer_deluged_comes_back_with_the_plugin_as_it_was(daemons, tmp_path):
    seeder, leecher = daemons('seeder', plugin=False), daemons('leecher')
    keystore = str(tmp_path / 'gone.json')
    leecher.rpc('piecepay.set_config', {'keystore': keystore, 'max_price': '5', 'credit_window': 8})
    tid = transfer(seeder, leecher, tmp_path, size=96 * 1024 * 1024)
    leecher.rpc('core.set_torrent_options', [tid], {'max_download_speed': 8192.0})  # KiB/s: mid-transfer for seconds
    wait_for('a part of the download', lambda: leecher.status(tid, ['progress'])['progress'] > 2.0)
    leecher.kill()
    leecher.start()
    status = settled_status(leecher)
    assert (status['state'], status['error_code']) == ('error', 'keystore_missing')
    config = leecher.rpc('piecepay.get_config')
    assert (config['keystore'], config['max_price'], config['credit_window']) == (keystore, '5', 8)
    # Deluge itself brings the torrent back paused (it had no resume data from a killed process).
    wait_for('the torrent to be restored', lambda: leecher.status(tid, ['state']))
    leecher.rpc('core.set_torrent_options', [tid], {'max_download_speed': -1.0})
    leecher.rpc('core.resume_torrent', [tid])
    leecher.connect_to(tid, seeder)
    leecher.wait_finished(tid, timeout=120)


def test_withdraw_checks_its_amount_before_anything(daemons):
    d = daemons('one')
    kind, text = remote_error(d.rpc, 'piecepay.withdraw', '-5')
    assert text.startswith("error[invalid_amount]: amount must be a whole number of token base units, got '-5'")
