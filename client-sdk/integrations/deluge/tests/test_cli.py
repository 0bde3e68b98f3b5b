"""A paying deluged and the project's own libtorrent client, `piecepay-torrent` (the libtorrent
integration's demo/client.cpp, on the same client agent), both ways on a devnet with the relayer: the
deluged buys from `piecepay-torrent serve`, and `piecepay-torrent download` buys from the deluged; every
piece paid once at the seller's price, on both books."""
import json
import os
import signal
import subprocess

import pytest

import torrents
from deluged import wait_for
from paid import PASSWORD, POLICY, ROOT, Devnet, configure

CLI = os.path.join(ROOT, 'client-sdk', 'integrations', 'libtorrent', 'build', 'dev', 'piecepay-torrent')
PRICE = int(POLICY['price'])
KEY_ENV = 'PIECEPAY_KEY'  # the CLI's key, as tests/src/client.rs passes it


def cli_config(info, directory, name, section):
    """The CLI's agent config (docs/agent.md) for this devnet: key in KEY_ENV, quick timings (those of
    tests/src/client.rs), `section` its [payee] or [payer]."""
    path = os.path.join(directory, name + '.toml')
    with open(path, 'w') as f:
        f.write('[wallet]\nkey_env = "%s"\n[chain]\nmanifest = "%s"\nrpc_url = "%s"\n[relayer]\nurls = ["%s"]\n'
                '[store]\npath = "%s"\n[timing]\nchain_poll_ms = 300\ntick_ms = 200\nchannel_check_s = 10\n%s'
                % (KEY_ENV, info['manifest'], info['rpc_url'], info['relayer']['url'],
                   os.path.join(directory, name + '.sqlite'), section))
    return path


def cli(args, peer, log_path):
    """`piecepay-torrent args…` with `peer`'s key; returns the process and its hello (first stdout line)."""
    key = peer['account']['key']
    env = dict(os.environ, **{KEY_ENV: key[2:] if key.startswith('0x') else key})
    with open(log_path, 'w') as log:
        proc = subprocess.Popen([CLI] + args, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
                                start_new_session=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait(30)
        with open(log_path) as f:
            raise AssertionError('piecepay-torrent %s printed no hello (%s):\n%s' % (args[0], proc.returncode, f.read()[-3000:]))
    return proc, json.loads(line)


def report(proc, timeout=60):
    """The agent's report: the last JSON line of a finished CLI."""
    out, _ = proc.communicate(timeout=timeout)
    return json.loads(out.strip().splitlines()[-1])


@pytest.fixture
def cli_devnet(tmp_path):
    if not os.path.isfile(CLI):
        raise AssertionError('%s is missing: make -C client-sdk/integrations/libtorrent' % CLI)
    devnet = Devnet(str(tmp_path), peers=3, leechers=2)  # a seller and two buyers
    yield devnet
    devnet.stop()


def test_a_paying_deluged_and_the_libtorrent_client_buy_from_each_other(daemons, cli_devnet, tmp_path):
    info, root = cli_devnet.info, str(tmp_path)
    d = daemons('deluged')
    configure(cli_devnet, d, cli_devnet.peer('leecher', 0), os.path.join(root, 'keystores'))
    assert d.rpc('piecepay.unlock', PASSWORD)['state'] == 'running'
    procs = []
    try:
        # 1. The deluged buys from `piecepay-torrent serve` (a generated torrent of 8 pieces).
        seller = cli_config(info, root, 'seller', '[payee]\nprice = %d\ncredit_pieces = 64\nfree_pieces = 0\n'
                            '[payee.settle]\nmin_value = 1\nmax_age_s = 1\n' % PRICE)
        serve, hello = cli(['serve', '--config', seller, '--dir', os.path.join(root, 'serve'), '--size-kib', '2048',
                            '--piece-kib', '256'], cli_devnet.peer('seeder'), os.path.join(root, 'serve.log'))
        procs.append(serve)
        with open(hello['torrent'], 'rb') as f:
            tid = d.add_torrent(f.read())
        d.rpc('core.connect_peer', tid, '127.0.0.1', int(hello['listen'].rsplit(':', 1)[1]))
        d.wait_finished(tid, timeout=90)
        cost = str(8 * PRICE)
        wait_for('the deluged to have paid every piece once',
                 lambda: d.rpc('piecepay.get_totals')[tid]['spent'] == cost, timeout=60)
        serve.send_signal(signal.SIGTERM)
        assert report(serve)['earned'] == cost
        assert serve.returncode == 0

        # 2. `piecepay-torrent download` buys from the deluged.
        torrent, tid = torrents.make(d.download_dir, 'sold.bin', 2 * 1024 * 1024, seed=3)
        path = os.path.join(root, 'sold.torrent')
        with open(path, 'wb') as f:
            f.write(torrent)
        assert d.add_torrent(torrent, seed=True) == tid
        buyer = cli_config(info, root, 'buyer', '[payer]\nmax_price = %d\nbudget_total = %s\ndeposit_per_channel = %s\n'
                           'idle_close_s = 0\n' % (PRICE, POLICY['budget_total'], POLICY['deposit_per_channel']))
        download, _ = cli(['download', '--config', buyer, '--torrent', path, '--dir', os.path.join(root, 'download'),
                           '--peer', '127.0.0.1:%d' % d.rpc('core.get_listen_port'), '--timeout-s', '90'],
                          cli_devnet.peer('leecher', 1), os.path.join(root, 'download.log'))
        procs.append(download)
        assert report(download, timeout=120)['spent'] == cost
        assert download.returncode == 0
        wait_for('the deluged to hold exactly that',
                 lambda: d.rpc('piecepay.get_totals')[tid]['earned'] == cost, timeout=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
