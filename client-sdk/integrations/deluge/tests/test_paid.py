"""Two real deluged, both with the plugin and its client agent, on a devnet with the relayer: the
leecher pays the seeder for every piece, the status fields are the agent's totals and agree with the
chain, and a wallet that cannot be opened is reported while deluged keeps serving."""
import os
import re
import subprocess
import time

import pytest

import torrents
from deluged import free_port, wait_for
from paid import CAST, PASSWORD, POLICY, configure

PRICE = int(POLICY['price'])
AGENT_THREADS = re.compile(r'^(piecepay|tokio)')  # the agent's threads (test_daemon.py)
FIELDS = ['piecepay_spent', 'piecepay_earned', 'piecepay_pending', 'piecepay_peers_paying', 'piecepay_peers_paid']


def escrow_balance(devnet, address):
    """The escrow's free balance of `address`, read from the chain with cast (not through the agent)."""
    info = devnet.devnet.info
    out = subprocess.run([CAST, 'call', '--rpc-url', info['rpc_url'], info['escrow'],
                          'balanceOf(address)(uint256)', address], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def paying_pair(daemons, devnet, name, size_mib, kib_s):
    """A seeding and a leeching deluged, both paying, with a torrent of `size_mib` MiB (256 KiB pieces)
    added to both, the leecher's download capped at `kib_s` KiB/s; returns (seeder, leecher, id, pieces).
    Both have the torrent before their payments start, as after a restart of deluged (and in the bench),
    and the caller dials at once: the payments have joined the torrent by the time they run (a
    connection made before would go unpaid, and the seeder would refuse it)."""
    seeder, leecher = daemons('seeder'), daemons('leecher')
    torrent, tid = torrents.make(seeder.download_dir, name, size_mib * 1024 * 1024)
    assert seeder.add_torrent(torrent, seed=True) == tid
    assert leecher.add_torrent(torrent) == tid
    leecher.rpc('core.set_torrent_options', [tid], {'max_download_speed': kib_s})
    assert devnet.enable(seeder, leecher) is None  # the leecher's payments first, the seeder's last
    return seeder, leecher, tid, size_mib * 4


def paid_once(seeder, leecher, tid, pieces):
    """Waits until the leecher paid every piece once at the seeder's price and the seeder holds that."""
    cost = str(pieces * PRICE)
    wait_for('the leecher to have paid every piece once',
             lambda: leecher.rpc('piecepay.get_totals')[tid]['spent'] == cost, timeout=60)
    wait_for('the seeder to hold exactly that',
             lambda: seeder.rpc('piecepay.get_totals')[tid]['earned'] == cost, timeout=60)
    return cost


def test_every_piece_is_paid_and_the_status_fields_are_the_agents(daemons, devnet, tmp_path):
    # Slowed down at first, so the connection is seen paying: once both seed, they disconnect.
    seeder, leecher, tid, pieces = paying_pair(daemons, devnet, 'paid.bin', 8, 512)
    leecher.connect_to(tid, seeder)
    wait_for('the leecher to be paying the seeder',
             lambda: leecher.status(tid, ['piecepay_peers_paid'])['piecepay_peers_paid'] == 1, timeout=60)
    wait_for('the seeder to be paid by the leecher',
             lambda: seeder.status(tid, ['piecepay_peers_paying'])['piecepay_peers_paying'] == 1, timeout=30)
    leecher.rpc('core.set_torrent_options', [tid], {'max_download_speed': -1})
    leecher.wait_finished(tid, timeout=90)

    # Every piece paid: the leecher signed receipts for all of them at the seeder's price, and the
    # seeder holds them.
    cost = paid_once(seeder, leecher, tid, pieces)
    # The status fields (Deluge's status API, what the UIs show) are these totals.
    for d in (seeder, leecher):
        totals = d.rpc('piecepay.get_totals')[tid]
        status = d.status(tid, FIELDS)
        assert {f: status[f] for f in FIELDS} == {'piecepay_' + k: totals[k] for k in
                                                   ('spent', 'earned', 'pending', 'peers_paying', 'peers_paid')}
    assert leecher.status(tid, ['piecepay_spent'])['piecepay_spent'] == cost
    assert int(seeder.status(tid, ['piecepay_pending'])['piecepay_pending']) <= pieces * PRICE

    # The relayer settles on chain exactly what was paid: the seeder (no escrow balance before) holds
    # the cost; the leecher's free balance is its deposit less the channel's. Closing the channel (the
    # seeder is gone, so a unilateral close: the rest comes back after the challenge period) pays
    # nothing more. The balances the plugin shows (the agent's, read from the chain) are the chain's.
    assert leecher.rpc('piecepay.close_all') == 1
    seller, buyer = (d.rpc('piecepay.get_balances')['address'] for d in (seeder, leecher))
    deposited = 10 * 10**18  # paid.Devnet: each leecher deposits 10 tokens
    wait_for('the receipts to be settled on chain',
             lambda: (escrow_balance(devnet, seller), escrow_balance(devnet, buyer))
             == (pieces * PRICE, deposited - int(POLICY['deposit_per_channel'])), timeout=60)
    wait_for('the seeder to see its earnings settled',
             lambda: seeder.rpc('piecepay.get_totals')[tid]['pending'] == '0', timeout=60)
    for d, address in ((seeder, seller), (leecher, buyer)):
        wait_for('%s\'s balances to be the chain\'s' % d.name,
                 lambda: d.rpc('piecepay.get_balances')['free'] == str(escrow_balance(devnet, address)), timeout=60)
    # What the agents did is in each deluged's log, one line per event.
    for d, kind in ((leecher, 'channel_opened'), (seeder, 'channel_checked'), (seeder, 'settled')):
        wait_for('%s to log its %s event' % (d.name, kind),
                 lambda: re.search(r'piecepay: event \{"at":\d+,"type":"%s"' % kind, d.log_text()), timeout=10)
    # Paid once: closing added nothing to what either side counts.
    assert leecher.rpc('piecepay.get_totals')[tid]['spent'] == cost
    assert seeder.rpc('piecepay.get_totals')[tid]['earned'] == cost

    # Disabling stops the running agent with its threads joined; enabled again, it starts afresh from
    # its database (the password is asked again: memory only) with the same totals. The session hashes
    # on one thread per core while payments run, on libtorrent's default (1) otherwise.
    for _ in range(2):
        assert [t for t in leecher.thread_names() if AGENT_THREADS.match(t)], leecher.thread_names()
        assert leecher.rpc('piecepay.get_status')['hashing_threads'] == max(1, os.cpu_count())
        assert leecher.rpc('core.disable_plugin', 'Piecepay') is True
        assert [t for t in leecher.thread_names() if AGENT_THREADS.match(t)] == []
        assert leecher.rpc('core.enable_plugin', 'Piecepay') is True
        status = wait_for('the plugin to be back', lambda: leecher.rpc('piecepay.get_status'))
        assert (status['state'], status['hashing_threads']) == ('locked', 1)
        assert leecher.rpc('piecepay.unlock', PASSWORD)['state'] == 'running'
    wait_for('the totals to be read again', lambda: leecher.rpc('piecepay.get_totals')[tid]['spent'] == cost)
    assert leecher.alive() and seeder.alive()


def test_a_paying_deluged_killed_mid_transfer_pays_nothing_twice(daemons, devnet, tmp_path):
    seeder, leecher, tid, pieces = paying_pair(daemons, devnet, 'killed.bin', 16, 1024)  # killed mid-way
    leecher.connect_to(tid, seeder)
    wait_for('a part of the download, paid',
             lambda: int(leecher.rpc('piecepay.get_totals')[tid]['spent']) >= 4 * PRICE, timeout=60)
    leecher.kill()
    leecher.start()
    # The password is in memory only: asked again; the agent's database kept what it paid.
    assert leecher.rpc('piecepay.unlock', PASSWORD)['state'] == 'running'
    wait_for('the torrent to be restored', lambda: leecher.status(tid, ['state']))
    wait_for('what was paid before the kill, read back from the agent\'s database',
             lambda: int(leecher.rpc('piecepay.get_totals')[tid]['spent']) >= 4 * PRICE)
    leecher.rpc('core.set_torrent_options', [tid], {'max_download_speed': -1})
    leecher.rpc('core.resume_torrent', [tid])
    leecher.connect_to(tid, seeder)
    leecher.wait_finished(tid, timeout=120)
    # Every piece paid exactly once, across the kill: what the leecher signed is what the seeder holds.
    paid_once(seeder, leecher, tid, pieces)


def test_a_wallet_that_cannot_open_is_reported_and_deluged_keeps_serving(daemons, devnet, tmp_path):
    seeder, leecher = daemons('seeder'), daemons('leecher', plugin=False)
    info = devnet.devnet.info
    keystore = configure(devnet.devnet, seeder, devnet.devnet.peer('seeder'), str(tmp_path / 'keystores'), free_share=1000)
    status = seeder.rpc('piecepay.unlock', 'not ' + PASSWORD)
    assert (status['state'], status['error_code']) == ('error', 'wallet'), status
    assert not status['error'].startswith('error['), status  # the code once, not repeated in the message
    assert 'error[wallet]' in seeder.log_text()
    # A missing keystore is refused by the plugin's own checks, before the agent.
    os.rename(keystore, keystore + '.gone')
    status = seeder.rpc('piecepay.set_config', {'keystore': keystore})
    assert (status['state'], status['error_code']) == ('error', 'keystore_missing'), status
    assert 'error[keystore_missing]' in seeder.log_text()
    # An unreachable relayer, and no RPC node to fall back on: the agent's `unavailable`, naming it.
    os.rename(keystore + '.gone', keystore)
    dead = 'http://127.0.0.1:%d' % free_port()
    seeder.rpc('piecepay.set_config', {'keystore': keystore, 'relayer_urls': [dead], 'rpc_url': ''})
    status = seeder.rpc('piecepay.unlock', PASSWORD)
    assert (status['state'], status['error_code']) == ('error', 'unavailable'), status
    assert 'no relayer answers' in status['error'], status
    assert 'error[unavailable]' in seeder.log_text()
    # deluged keeps serving: a stock deluged downloads from it.
    torrent, tid = torrents.make(seeder.download_dir, 'free.bin', 2 * 1024 * 1024)
    assert seeder.add_torrent(torrent, seed=True) == tid
    assert leecher.add_torrent(torrent) == tid
    leecher.connect_to(tid, seeder)
    leecher.wait_finished(tid, timeout=60)
    # Fixing the chain access starts payments without restarting deluged.
    status = seeder.rpc('piecepay.set_config', {'relayer_urls': [info['relayer']['url']], 'rpc_url': info['rpc_url']})
    assert status['state'] == 'running', status


def have(daemon, tid):
    """The pieces `daemon` has of torrent `tid` (Deluge's piece states: 3 is downloaded)."""
    status = daemon.status(tid, ['pieces', 'num_pieces', 'is_finished'])
    return status['num_pieces'] if status['is_finished'] else (status['pieces'] or []).count(3)


def test_a_stock_deluged_gets_the_free_share_of_a_paying_one_and_no_more(daemons, devnet, tmp_path):
    seeder, stock = daemons('seeder'), daemons('stock', plugin=False)
    configure(devnet.devnet, seeder, devnet.devnet.peer('seeder'), str(tmp_path / 'keystores'), max_price='0', free_share=3)
    assert seeder.rpc('piecepay.unlock', PASSWORD)['state'] == 'running'
    # A free share of 3 pieces: a peer that does not pay gets those (and at most what was already in
    # flight when they ran out), then nothing more while connected: far from the torrent's 16.
    torrent, tid = torrents.make(seeder.download_dir, 'share.bin', 4 * 1024 * 1024)
    assert seeder.add_torrent(torrent, seed=True) == tid
    assert stock.add_torrent(torrent) == tid
    stock.connect_to(tid, seeder)
    wait_for('the free share', lambda: have(stock, tid) >= 3, timeout=60)
    time.sleep(2)
    got = have(stock, tid)
    time.sleep(2)
    assert have(stock, tid) == got and got <= 6, got
    assert stock.status(tid, ['num_seeds'])['num_seeds'] == 1
    # A free share of 0 (applied without a restart): nothing at all.
    assert seeder.rpc('piecepay.set_config', {'free_share': 0})['state'] == 'running'
    torrent, tid = torrents.make(seeder.download_dir, 'none.bin', 1024 * 1024, seed=2)
    assert seeder.add_torrent(torrent, seed=True) == tid
    assert stock.add_torrent(torrent) == tid
    stock.connect_to(tid, seeder)
    wait_for('the stock deluged to connect', lambda: stock.status(tid, ['num_seeds'])['num_seeds'] == 1)
    time.sleep(3)
    assert have(stock, tid) == 0
    assert seeder.alive() and stock.alive()


def test_a_download_under_way_when_payments_start_pays_from_then_on(daemons, devnet, tmp_path):
    # Deluge adds its torrents before the plugin starts the payments (at enable, unlock or a settings
    # change): a connection made before has no piecepay handshake, so the plugin re-makes it.
    seeder, leecher = daemons('seeder'), daemons('leecher')
    configure(devnet.devnet, seeder, devnet.devnet.peer('seeder'), str(tmp_path / 'keystores' / 'seeder'))
    assert seeder.rpc('piecepay.unlock', PASSWORD)['state'] == 'running'
    torrent, tid = torrents.make(seeder.download_dir, 'before.bin', 8 * 1024 * 1024)
    assert seeder.add_torrent(torrent, seed=True) == tid
    assert leecher.add_torrent(torrent) == tid
    leecher.connect_to(tid, seeder)
    # Connected, without payments: the seeder (free share 0) serves it nothing.
    wait_for('the leecher to connect', lambda: leecher.status(tid, ['num_seeds'])['num_seeds'] == 1)
    configure(devnet.devnet, leecher, devnet.devnet.peer('leecher'), str(tmp_path / 'keystores' / 'leecher'))
    assert leecher.rpc('piecepay.unlock', PASSWORD)['state'] == 'running'
    leecher.wait_finished(tid, timeout=90)
    paid_once(seeder, leecher, tid, 32)
