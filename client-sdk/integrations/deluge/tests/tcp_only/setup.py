"""TcpOnly: a Deluge plugin for the tests and the bench only. Deluge 2.0.3 has no setting for uTP and
libtorrent prefers it for outgoing connections; on loopback uTP moves ~5 MiB/s where TCP moves over
100 MiB/s (measured here with two python3-libtorrent sessions). Every test daemon, paying or not,
enables this plugin, so both sides of a comparison run the same transport."""
from setuptools import setup

setup(
    name='TcpOnly',
    version='1.0',
    packages=['deluge_tcp_only'],
    zip_safe=True,
    entry_points='[deluge.plugin.core]\nTcpOnly = deluge_tcp_only:CorePlugin\n',
)
