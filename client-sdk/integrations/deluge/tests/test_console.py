"""piecepay-deluge, the plugin's console, against real deluged: it logs in as deluge-console does
(localclient, from the daemon's config directory) and talks through Deluge's own client library, so
these also show the plugin's errors reach Deluge's own clients intact."""
import os
import subprocess

import torrents
from deluged import PASSWORD, USER

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'piecepay-deluge')


def console(d, *args, stdin=None):
    done = subprocess.run([TOOL, '-c', d.config_dir, '--port', str(d.rpc_port), *args],
                          input=stdin, capture_output=True, text=True, timeout=60)
    return done.returncode, done.stdout, done.stderr


def test_status_settings_and_torrents_from_the_console(daemons, tmp_path):
    d = daemons('one')
    torrent, tid = torrents.make(d.download_dir, 'console.bin', 1024 * 1024)
    d.add_torrent(torrent, seed=True)
    code, out, err = console(d, 'status')
    assert (code, err) == (0, '') and out.startswith('payments: off\nbuilt with: agent (libtorrent 2.0.8.0)')

    code, out, _ = console(d, 'config', 'price=1500000000000000000', 'credit_window=16', 'relayer_urls=http://127.0.0.1:9')
    assert code == 0 and 'price = "1500000000000000000"' in out and 'credit_window = 16' in out
    assert 'relayer_urls = ["http://127.0.0.1:9"]' in out
    code, out, err = console(d, 'config', 'credit_window=0')
    assert code == 1 and err.startswith('piecepay-deluge: error[invalid_setting]: credit_window must be'), err
    assert d.rpc('piecepay.get_config')['credit_window'] == 16

    code, out, _ = console(d, 'info', tid[:6])
    assert code == 0 and out == '%s  console.bin\n  paid 0  earned 0  unsettled 0  peers paying 0  peers paid 0\n' % tid
    code, _, err = console(d, 'info', 'ffffffff')
    assert code == 1 and 'no torrent matches ffffffff' in err


def test_unlock_and_money_commands_report_why_they_cannot_run(daemons, tmp_path):
    keystore, manifest = tmp_path / 'key.json', tmp_path / '31337.json'
    keystore.write_text('{}')
    manifest.write_text('{}')
    d = daemons('one')
    # Deluge's defaults neither sell nor buy: the answer names what to set.
    code, out, _ = console(d, 'config', 'keystore=%s' % keystore, 'manifest=%s' % manifest, 'rpc_url=http://127.0.0.1:9')
    assert code == 0 and out.startswith('payments: error — error[policy_not_configured]: set "price" (to sell)'), out
    console(d, 'config', 'price=5')
    code, out, _ = console(d, 'unlock', stdin='typed password\n')
    # The password reached the agent, which cannot open this wallet (the keystore is not one).
    assert code == 0 and out.startswith('payments: error — error[wallet]: '), out
    for command in ('balance', 'withdraw', 'close-all'):
        code, _, err = console(d, command)
        assert code == 1 and err.startswith('piecepay-deluge: error[not_running]: payments are error: '), (command, err)


def test_a_deluged_without_the_plugin_is_named(daemons):
    d = daemons('stock', plugin=False)
    code, _, err = console(d, 'status')
    assert code == 1 and 'the Piecepay plugin is not enabled in the deluged at 127.0.0.1:%d' % d.rpc_port in err


def test_the_readmes_three_steps_on_a_stock_deluged(daemons, egg, tmp_path):
    d = daemons('stock', plugin=False)
    # 1. install: the egg goes into the running deluged's plugins folder.
    code, out, err = console(d, 'install', egg)
    assert code == 0 and out.startswith('installed Piecepay-'), err
    # 2. enable, with Deluge's own console.
    enable = subprocess.run(['deluge-console', '-L', 'error', '-c', str(tmp_path / 'console'),
                             'connect 127.0.0.1:%d %s %s; plugin -e Piecepay' % (d.rpc_port, USER, PASSWORD)],
                            capture_output=True, text=True, timeout=60)
    assert enable.returncode == 0, enable.stderr[-2000:]
    assert 'Piecepay' in d.rpc('core.get_enabled_plugins')
    # 3. configure the wallet (here one that does not exist: the answer names it).
    keystore, manifest = str(tmp_path / 'keystores' / 'wallet.json'), tmp_path / '31337.json'
    manifest.write_text('{}')
    code, out, _ = console(d, 'config', 'keystore=%s' % keystore, 'manifest=%s' % manifest, 'relayer_urls=http://127.0.0.1:9')
    assert code == 0 and out.startswith('payments: error — error[keystore_missing]: wallet keystore %s does not exist' % keystore)
