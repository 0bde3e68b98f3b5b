"""Real deluged daemons for the tests: Debian's /usr/bin/deluged, each with its own config directory,
listening on 127.0.0.1 only (RPC and BitTorrent), DHT, LSD, UPnP, NAT-PMP and peer exchange off, driven
over Deluge's RPC with deluge-client.

Deluge 2.0.3's logging breaks on Python 3.11 at info level (every record raises in its findCaller),
so the daemons log at error (Deluge's own warnings raise too); the plugin's own lines reach the log at any level (its log.py).
"""
import base64
import json
import os
import signal
import socket
import subprocess
import time

from deluge_client import DelugeRPCClient

DELUGED = '/usr/bin/deluged'
USER, PASSWORD = 'tester', 'secret'  # admin (level 10)
READER = 'reader'  # normal level (5): may read, may not change settings or move money


def built_egg(variable):
    """The egg the Makefile built and named in `variable` (make test-deluge sets them all)."""
    path = os.environ.get(variable, '')
    if not os.path.isfile(path):
        raise AssertionError('%s must name an egg built by the Makefile (run `make test-deluge`), got %r' % (variable, path))
    return path


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=30.0, interval=0.1):
    """Polls check() until it returns a true value, which is returned; fails naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %.0f s waiting for %s' % (timeout, what))
        time.sleep(interval)


def _write_config(path, values):
    # Deluge's format: a header object, then the values.
    with open(path, 'w') as f:
        f.write(json.dumps({'file': 1, 'format': 1}) + json.dumps(values, indent=2))


class Deluged:
    def __init__(self, root, name, egg=None, env=None, test_plugins=()):
        """`egg`: the piecepay plugin's (none: stock Deluge). `test_plugins`: (name, egg) of further
        test-only plugins to enable (the bench's HashingThreads)."""
        self.name = name
        self.config_dir = os.path.join(root, name, 'config')
        self.download_dir = os.path.join(root, name, 'downloads')
        self.log_path = os.path.join(root, name, 'deluged.log')
        self.rpc_port = free_port()
        self.peer_port = free_port()
        self.env = dict(os.environ, PYTHON_EGG_CACHE=os.path.join(root, name, 'egg-cache'), **(env or {}))
        self.proc = None
        self._clients = {}
        os.makedirs(os.path.join(self.config_dir, 'plugins'), exist_ok=True)
        os.makedirs(self.download_dir, exist_ok=True)
        # Every daemon runs over TCP only (tests/tcp_only/setup.py says why); `egg` adds piecepay.
        plugins = [('TcpOnly', built_egg('PIECEPAY_TCP_ONLY_EGG'))] + list(test_plugins)
        if egg:
            plugins.append(('Piecepay', egg))
        for _, path in plugins:
            os.symlink(path, os.path.join(self.config_dir, 'plugins', os.path.basename(path)))
        with open(os.path.join(self.config_dir, 'auth'), 'w') as f:
            f.write('%s:%s:10\n%s:%s:5\n' % (USER, PASSWORD, READER, PASSWORD))
        _write_config(os.path.join(self.config_dir, 'core.conf'), {
            'daemon_port': self.rpc_port,
            'allow_remote': False,
            'listen_interface': '127.0.0.1',
            'listen_ports': [self.peer_port, self.peer_port],
            'random_port': False,
            'outgoing_interface': '',
            'dht': False, 'lsd': False, 'upnp': False, 'natpmp': False, 'utpex': False,
            'new_release_check': False, 'send_info': False,
            'download_location': self.download_dir,
            'move_completed': False, 'copy_torrent_file': False,
            'enabled_plugins': [plugin for plugin, _ in plugins],
            'max_active_seeding': -1, 'max_active_downloading': -1, 'max_active_limit': -1,
            'stop_seed_at_ratio': False,
        })

    def serve_web(self, port):
        """Configures deluge-web (sharing this config directory, so it finds the plugin's egg) to log in
        with password 'deluge' and connect to this daemon at once."""
        _write_config(os.path.join(self.config_dir, 'web.conf'), {
            'port': port, 'interface': '127.0.0.1', 'https': False, 'first_login': False,
            'default_daemon': 'piecepaytest', 'enabled_plugins': [],
        })
        with open(os.path.join(self.config_dir, 'hostlist.conf'), 'w') as f:
            f.write(json.dumps({'file': 3, 'format': 1}) + json.dumps(
                {'hosts': [['piecepaytest', '127.0.0.1', self.rpc_port, USER, PASSWORD]]}))
        log = open(os.path.join(os.path.dirname(self.log_path), 'deluge-web.log'), 'a')
        web = subprocess.Popen(
            ['/usr/bin/deluge-web', '-d', '-c', self.config_dir, '-i', '127.0.0.1', '-p', str(port), '--no-ssl', '-L', 'error'],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()

        def answers():
            if web.poll() is not None:
                raise AssertionError('deluge-web exited with %s' % web.returncode)
            try:
                with socket.create_connection(('127.0.0.1', port), timeout=1):
                    return True
            except OSError:
                return False

        wait_for('deluge-web on 127.0.0.1:%d' % port, answers)
        return web

    # -- process -------------------------------------------------------------------------------------

    def start(self, timeout=30.0):
        self._clients = {}
        log = open(self.log_path, 'a')
        self.proc = subprocess.Popen(
            [DELUGED, '-d', '-c', self.config_dir, '-u', '127.0.0.1', '-p', str(self.rpc_port),
             '-i', '127.0.0.1', '-L', 'error', '-l', self.log_path],
            stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        log.close()
        wait_for('%s to answer RPC on 127.0.0.1:%d' % (self.name, self.rpc_port), self._answers, timeout)
        return self

    def _answers(self):
        if self.proc.poll() is not None:
            raise AssertionError('%s exited with %s; its log:\n%s' % (self.name, self.proc.returncode, self.log_tail()))
        try:
            return self.rpc('daemon.info') is not None
        except (ConnectionError, OSError):
            self._clients = {}
            return False

    def stop(self):
        """Asks deluged to shut down (it saves its state), SIGKILL after 20 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._clients = {}

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self._clients = {}

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def thread_names(self):
        names = []
        for task in os.listdir('/proc/%d/task' % self.proc.pid):
            try:
                with open('/proc/%d/task/%s/comm' % (self.proc.pid, task)) as f:
                    names.append(f.read().strip())
            except FileNotFoundError:  # the thread ended meanwhile
                pass
        return names

    def log_text(self):
        with open(self.log_path, errors='replace') as f:
            return f.read()

    def log_tail(self, lines=40):
        return '\n'.join(self.log_text().splitlines()[-lines:])

    # -- RPC -----------------------------------------------------------------------------------------

    def client(self, user=USER):
        if user not in self._clients:
            c = DelugeRPCClient('127.0.0.1', self.rpc_port, user, PASSWORD, decode_utf8=True)
            c.connect()
            self._clients[user] = c
        return self._clients[user]

    def forget(self, user):
        client = self._clients.pop(user, None)
        if client is not None:
            client.disconnect()

    def rpc(self, method, *args, user=USER, **kwargs):
        return self.client(user).call(method, *args, **kwargs)

    def add_torrent(self, torrent, seed=False, paused=False):
        options = {'download_location': self.download_dir, 'seed_mode': seed, 'add_paused': paused}
        return self.rpc('core.add_torrent_file', 'test.torrent', base64.b64encode(torrent).decode(), options)

    def status(self, torrent_id, keys):
        return self.rpc('core.get_torrent_status', torrent_id, keys)

    def connect_to(self, torrent_id, other):
        self.rpc('core.connect_peer', torrent_id, '127.0.0.1', other.rpc('core.get_listen_port'))

    def wait_finished(self, torrent_id, timeout=60.0):
        return wait_for('%s to finish %s' % (self.name, torrent_id[:8]),
                        lambda: self.status(torrent_id, ['is_finished'])['is_finished'], timeout)
