"""The path between payments and the user, with payments that follow a script (the test-only egg of
native/payments_scripted.cpp) instead of the agent, which is not in the tree yet: values crossing
C++ -> Python -> Deluge's status API and RPC -> the console, the payments started in a thread and
stopped with their thread joined, restarted on a settings change, and their refusals reported."""
import pytest
from deluge_client.client import RemoteException

import torrents
from deluged import wait_for
from scripted import TOTALS, WALLET, script, script_threads, scripted_log
from test_console import console
from test_daemon import FIELDS, settled_status


def test_the_payments_values_reach_the_status_api_rpc_and_console(running):
    d, tid = running
    expected = {'piecepay_' + k: v for k, v in TOTALS.items()}
    wait_for('the totals in the status API', lambda: {k: d.status(tid, FIELDS)[k] for k in FIELDS} == expected)
    assert d.rpc('piecepay.get_totals')[tid] == TOTALS
    assert d.rpc('piecepay.get_balances') == WALLET
    assert d.rpc('piecepay.withdraw', '5') == '5' and d.rpc('piecepay.withdraw') == WALLET['free']
    assert d.rpc('piecepay.close_all') == 3
    code, out, _ = console(d, 'info')
    assert code == 0 and '  paid 1.5  earned 0.00025  unsettled 0.0002  peers paying 2  peers paid 1\n' in out
    code, out, _ = console(d, 'balance')
    assert code == 0 and out == 'wallet %s\n  free (withdrawable) 3  locked in channels 1  in the wallet 7\n' % WALLET['address']
    # The password reached the payments (its length is what the script records), and nowhere else.
    assert scripted_log(d) == ['start password=11']


def test_a_refusal_of_the_payments_reaches_the_rpc_client_with_its_code(running):
    d, _ = running
    script(d, withdraw_error=['insufficient_free_balance', 'the free balance is 3, asked 9'])
    with pytest.raises(RemoteException) as info:
        d.rpc('piecepay.withdraw', '9')
    assert type(info.value).__name__ == 'DelugeError'
    assert str(info.value).startswith('error[insufficient_free_balance]: the free balance is 3, asked 9')
    assert d.alive() and d.rpc('piecepay.get_status')['state'] == 'running'


def test_settings_changes_restart_the_payments_and_disable_joins_their_thread(running):
    d, tid = running
    assert len(script_threads(d)) == 1
    d.rpc('piecepay.set_config', {'price': '7'})
    assert scripted_log(d) == ['start password=11', 'stop password=11', 'start password=11']
    assert len(script_threads(d)) == 1
    for _ in range(2):
        assert d.rpc('core.disable_plugin', 'Piecepay') is True
        assert script_threads(d) == [] and scripted_log(d)[-1] == 'stop password=11'
        assert not set(FIELDS) & set(d.status(tid, FIELDS))
        assert d.rpc('core.enable_plugin', 'Piecepay') is True
        # The password was in memory only: enabled again, the wallet waits for it.
        assert settled_status(d)['state'] == 'locked'
        assert d.rpc('piecepay.unlock', 'pass phrase')['state'] == 'running'
        assert len(script_threads(d)) == 1


def test_payments_that_fail_to_start_leave_deluged_serving(daemons, tmp_path):
    keystore, manifest = tmp_path / 'key.json', tmp_path / '31337.json'
    keystore.write_text('{}')
    manifest.write_text('{}')
    seeder, leecher = daemons('seeder', plugin='scripted'), daemons('leecher', plugin=False)
    script(seeder, start_error=['relayer_unreachable', 'no relayer answered at http://127.0.0.1:9'])
    seeder.rpc('piecepay.set_config', {'keystore': str(keystore), 'manifest': str(manifest), 'relayer_urls': ['http://127.0.0.1:9'],
                                       'price': '5'})
    status = seeder.rpc('piecepay.unlock', 'pass phrase')
    assert (status['state'], status['error_code']) == ('error', 'relayer_unreachable')
    assert 'piecepay: error[relayer_unreachable]: no relayer answered at http://127.0.0.1:9' in seeder.log_text()
    assert script_threads(seeder) == []
    torrent, tid = torrents.make(seeder.download_dir, 'served.bin', 4 * 1024 * 1024)
    seeder.add_torrent(torrent, seed=True)
    leecher.add_torrent(torrent)
    leecher.connect_to(tid, seeder)
    leecher.wait_finished(tid)


def test_deluged_shutting_down_stops_the_payments(running):
    d, _ = running
    d.stop()
    assert d.proc.returncode == 0
    assert scripted_log(d) == ['start password=11', 'stop password=11']
