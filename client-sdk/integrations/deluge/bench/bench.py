"""bench-deluge: throughput between two deluged on loopback, with the piecepay plugin paying every piece
(paid) and without it (free), in the style of the libtorrent integration's bench: one untimed warm-up
transfer of each, then rounds of one transfer each, alternating and flipping the order every round;
medians. Prints

    deluge throughput_mib_s paid=A free=B ratio=R
    deluge ratio_ci95 low=L high=H rounds=N
    deluge payments pieces_paid=P pieces=Q spent=S earned=E settled=T

The paid pair must really pay: after each timed transfer (outside its time) the leecher's spend and the
seeder's earnings on the torrent (the plugin's totals, the agent's books) must have grown by every piece
at the seeder's price, or the bench fails; the last line sums them (settled: what the relayer moved into
the seeder's escrow balance by the end).

Two pairs of daemons run side by side, each pair idle while the other transfers: the paid pair has the
plugin with funded wallets on a devnet with a relayer, the free pair is stock Deluge hashing on as many
threads as the plugin gives the paid pair (the HashingThreads bench plugin). Both run over TCP (the
TcpOnly test plugin) without stream encryption (PLAINTEXT below). A transfer is
timed from the moment the leecher is connected to the seeder until it has every piece (deluged dials
on libtorrent's tick, which would add up to a second at random to either mode).

    bench.py [--size-mib 256] [--piece-kib 256] [--rounds 9] [--only paid|free] [--keep DIR]

--keep runs in DIR and leaves it: the daemons' logs (DIR/<pair>-<role>/deluged.log, with the plugin's
lines), their configs and the agents' databases (config/piecepay/), the devnet's log.
"""
import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'tests'))

import torrents  # noqa: E402
from deluged import Deluged, built_egg, wait_for  # noqa: E402
from paid import POLICY, PaidSetup  # noqa: E402


# Deluge's own encryption settings, off (libtorrent's pe_disabled) on both pairs: Deluge's default
# (encryption enabled, prefer_rc4) makes every stream RC4, which on loopback holds a transfer to
# 45-50 MiB/s where plaintext moves ~120 MiB/s (256 MiB between two deluged, measured here): the
# payments' overhead is measured against the faster baseline.
PLAINTEXT = {'enc_in_policy': 2, 'enc_out_policy': 2}


def log(line):
    print(line, file=sys.stderr, flush=True)


class Pair:
    def __init__(self, root, mode, egg, content_dir, torrent, tid):
        plugin = egg if mode == 'paid' else None
        # The paid daemons hash on one thread per core (the piecepay plugin raises it while it pays), the
        # free ones on the same through HashingThreads (tests/hashing_threads/setup.py): the ratio
        # compares payments only.
        more = [] if plugin else [('HashingThreads', built_egg('PIECEPAY_HASHING_THREADS_EGG'))]
        self.mode = mode
        self.seeder = Deluged(root, mode + '-seeder', plugin, test_plugins=more).start()
        self.leecher = Deluged(root, mode + '-leecher', plugin, test_plugins=more).start()
        for d in (self.seeder, self.leecher):
            d.rpc('core.set_config', PLAINTEXT)
        self.torrent, self.tid = torrent, tid
        self.pieces_paid = 0
        self.spent = self.earned = 0
        self.seeder.rpc('core.add_torrent_file', 'bench.torrent', _b64(torrent),
                        {'download_location': content_dir, 'seed_mode': True})

    def transfer(self, size, pieces):
        """One download from scratch; returns MiB/s from connection to completion."""
        leecher = self.leecher
        if self.tid in leecher.rpc('core.get_session_state'):
            leecher.rpc('core.remove_torrent', self.tid, True)
            wait_for('the old download to go', lambda: self.tid not in leecher.rpc('core.get_session_state'))
        leecher.add_torrent(self.torrent)
        leecher.connect_to(self.tid, self.seeder)
        wait_for('%s leecher to connect' % self.mode,
                 lambda: leecher.status(self.tid, ['num_seeds'])['num_seeds'] > 0, timeout=30, interval=0.005)
        start = time.monotonic()
        wait_for('%s transfer to finish' % self.mode,
                 lambda: leecher.status(self.tid, ['is_finished'])['is_finished'], timeout=600, interval=0.01)
        elapsed = time.monotonic() - start
        if self.mode == 'paid':
            self._check_paid(pieces)
        return size / (1024 * 1024) / elapsed

    def _check_paid(self, pieces):
        """Every piece of the transfer just timed paid once at the seeder's price, on both books."""
        cost = pieces * int(POLICY['price'])

        def total(daemon, key):
            return int(daemon.rpc('piecepay.get_totals').get(self.tid, {}).get(key, '0'))

        wait_for('the leecher to have paid every piece', lambda: total(self.leecher, 'spent') >= self.spent + cost, timeout=120)
        wait_for('the seeder to have earned it', lambda: total(self.seeder, 'earned') >= self.earned + cost, timeout=120)
        spent, earned = total(self.leecher, 'spent'), total(self.seeder, 'earned')
        if (spent, earned) != (self.spent + cost, self.earned + cost):
            sys.exit('bench-deluge: a piece was paid twice: spent %d, earned %d, expected %d' % (spent, earned, self.spent + cost))
        self.spent, self.earned = spent, earned
        self.pieces_paid += pieces

    def stop(self):
        self.seeder.stop()
        self.leecher.stop()


def _b64(data):
    import base64
    return base64.b64encode(data).decode()


def ci95(paid, free, resamples=4000):
    rng = random.Random(0x5eed)
    ratios = []
    for _ in range(resamples):
        picks = [rng.randrange(len(paid)) for _ in paid]
        ratios.append(statistics.median(paid[k] for k in picks) / statistics.median(free[k] for k in picks))
    ratios.sort()
    return ratios[int(0.025 * (resamples - 1))], ratios[int(0.975 * (resamples - 1))]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--size-mib', type=int, default=256)
    p.add_argument('--piece-kib', type=int, default=256)
    p.add_argument('--rounds', type=int, default=9)
    p.add_argument('--only', choices=('paid', 'free'))
    p.add_argument('--keep', metavar='DIR', help='run in DIR (a new directory) and leave it there')
    a = p.parse_args()
    egg = built_egg('PIECEPAY_DELUGE_EGG')
    modes = [a.only] if a.only else ['paid', 'free']
    size = a.size_mib * 1024 * 1024
    pieces = -(-size // (a.piece_kib * 1024))
    pairs, setup = {}, None
    if a.keep:
        os.makedirs(a.keep)
        workdir = contextlib.nullcontext(os.path.abspath(a.keep))
    else:
        workdir = tempfile.TemporaryDirectory(prefix='piecepay-bench-deluge-')
    with workdir as root:
        try:
            content = os.path.join(root, 'content')
            torrent, tid = torrents.make(content, 'bench.bin', size, a.piece_kib * 1024)
            for mode in modes:
                pairs[mode] = Pair(root, mode, egg, content, torrent, tid)
            if 'paid' in pairs:
                setup = PaidSetup(root)
                # The same torrent is bought again every round: the budgets and the channel's deposit
                # cover them all (1 + rounds transfers), so no round waits for a top-up. The credit window
                # covers what loopback moves during one payment round trip (docs/agent.md, "Sizing the
                # credit window"): with the tests' 64 pieces the seller waits for receipts, and the bench
                # would measure the window instead of what payments cost.
                cost = str(int(POLICY['price']) * (size // (a.piece_kib * 1024)) * (a.rounds + 2))
                problem = setup.enable(pairs['paid'].seeder, pairs['paid'].leecher, budget_per_torrent=cost,
                                       budget_total=cost, deposit_per_channel=cost, credit_window=256)
                if problem:
                    sys.exit('bench-deluge: the paid mode cannot run: %s' % problem)
            for mode in modes:  # warm-up: caches, allocation, the payments' channel opened
                log('bench warm-up %s: %.1f MiB/s' % (mode, pairs[mode].transfer(size, pieces)))
            results = {m: [] for m in modes}
            for r in range(a.rounds):
                for mode in modes if r % 2 == 0 else modes[::-1]:
                    results[mode].append(pairs[mode].transfer(size, pieces))
                    log('bench round %d %s: %.1f MiB/s' % (r + 1, mode, results[mode][-1]))
            if 'paid' in pairs:
                paid_pair = pairs['paid']
                settled = paid_pair.seeder.rpc('piecepay.get_balances')['free']
                payments = 'deluge payments pieces_paid=%d pieces=%d spent=%d earned=%d settled=%s' % (
                    paid_pair.pieces_paid, pieces * (a.rounds + 1), paid_pair.spent, paid_pair.earned, settled or 'unknown')
        finally:
            for pair in pairs.values():
                pair.stop()
            if setup:
                setup.stop()
    if a.only:
        print('deluge throughput_mib_s %s=%.1f rounds=%d' % (a.only, statistics.median(results[a.only]), a.rounds))
        if a.only == 'paid':
            print(payments)
        return
    paid, free = statistics.median(results['paid']), statistics.median(results['free'])
    low, high = ci95(results['paid'], results['free'])
    print('deluge throughput_mib_s paid=%.1f free=%.1f ratio=%.3f' % (paid, free, paid / free))
    print('deluge ratio_ci95 low=%.3f high=%.3f rounds=%d' % (low, high, a.rounds))
    print(payments)


if __name__ == '__main__':
    main()
