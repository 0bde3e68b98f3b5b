"""HashingThreads: a Deluge plugin for the bench only (bench/bench.py, its free pair). While it pays,
the piecepay plugin raises libtorrent's hashing threads to one per core, or more if the host set more
(attach: client-sdk/integrations/libtorrent/src/lent_settings.hpp, HashingThreads); stock Deluge hashes
on libtorrent's default of one. This plugin gives the free daemons the same rule, so the bench's
paid/free ratio compares payments only, not payments and hashing threads. Deluge 2.0.3 has no setting
for libtorrent's hashing_threads."""
from setuptools import setup

setup(
    name='HashingThreads',
    version='1.0',
    packages=['deluge_hashing_threads'],
    zip_safe=True,
    entry_points='[deluge.plugin.core]\nHashingThreads = deluge_hashing_threads:CorePlugin\n',
)
