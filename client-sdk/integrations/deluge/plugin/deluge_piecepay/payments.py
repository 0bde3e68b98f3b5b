"""The payments of one deluged: at most one agent at a time, attached to Deluge's session.

States (what `status()` reports, and what the UIs show):
  off       no wallet configured: torrents are served and downloaded without payments;
  locked    a wallet is configured, its password is not known yet (env var or the unlock RPC);
  starting  the agent is starting (it opens the wallet and reaches the chain: seconds, off the reactor);
  running   payments are on;
  error     payments could not start: `error_code` and `error` say why (the same line is in the log).
Torrents keep being served in every state: a payment problem never stops deluged.

Starting and stopping run in Twisted's thread pool (the agent's start and shutdown block) and one at a
time (a DeferredLock), so a settings change arriving during a start is applied after it.
"""
from deluge import component
from twisted.internet import defer, reactor, threads

from . import agent_config
from .errors import PiecepayError
from .log import log
from .settings import wallet_problem

# Payments join the torrents already in the session at the session's next tick (the libtorrent
# integration's session plugin, ~1 s), and the connections those torrents already had stay without the
# piecepay handshake: unpaid, and served for free by a seller. Deluge adds its torrents before the
# plugin starts payments (at start-up, enable, unlock, every settings change), so once they joined, the
# connections open before the start are re-made (libtorrent's session pause and resume, then those
# peers dialled again: libtorrent would wait its min_reconnect_time, a minute, before it redials them).
# Torrents added later join at once and are left alone.
REJOIN_S = 2.0


class Payments:
    def __init__(self, native, session, data_dir, on_change):
        self._native = native
        self._session = session
        self._data_dir = data_dir
        self._on_change = on_change
        self._lock = defer.DeferredLock()
        self._handle = None
        self._state = 'off'
        self._error = None

    @property
    def running(self):
        return self._handle

    def status(self):
        return {
            'state': self._state,
            'error_code': self._error.code if self._error else '',
            'error': self._error.message if self._error else '',
        }

    def restart(self, settings, password):
        """Stops what runs, then starts with these settings; the Deferred fires with status()."""
        return self._lock.run(self._restart, settings, password)

    def stop(self):
        """Stops the agent (its threads joined, its database closed); fires with status()."""
        return self._lock.run(self._stop_locked)

    def refuse(self, error):
        """Payments cannot start until the settings change (a bad piecepay.conf)."""
        return self._set('error', error)

    def _set(self, state, error=None):
        changed = (state, error and error.code) != (self._state, self._error and self._error.code)
        self._state, self._error = state, error
        if error is not None:
            log.error('piecepay: %s', error)
        if changed:
            self._on_change(self.status())
        return self.status()

    @defer.inlineCallbacks
    def _stop_locked(self):
        handle, self._handle = self._handle, None
        if handle is not None:
            yield threads.deferToThread(handle.stop)
            log.info('piecepay: payments stopped')
        if self._state in ('running', 'starting'):
            self._set('off')
        return self.status()

    @defer.inlineCallbacks
    def _restart(self, settings, password):
        yield self._stop_locked()
        problem = wallet_problem(settings)
        if problem is not None:
            if problem.code == 'wallet_not_configured':
                log.info('piecepay: %s; torrents are served without payments', problem.message)
                return self._set('off', None)
            return self._set('error', problem)
        if not password:
            return self._set('locked', PiecepayError(
                'password_missing',
                'the wallet %s is locked: set %s in deluged\'s environment or call piecepay.unlock over RPC'
                % (settings['keystore'], settings['password_env'])))
        self._set('starting')
        try:
            path = agent_config.write(settings, self._data_dir)
            before = self._connections()
            handle = yield threads.deferToThread(self._native.start, self._session, path, password)
        except self._native.Error as ex:
            return self._set('error', PiecepayError(*ex.args))
        except OSError as ex:
            return self._set('error', PiecepayError('data_dir', 'cannot write the agent\'s config in %s: %s' % (self._data_dir, ex)))
        except Exception as ex:  # a bug of ours: reported like any refusal, never an unhandled Deferred
            return self._set('error', PiecepayError('internal', 'starting payments failed: %r' % ex))
        self._handle = handle
        log.info('piecepay: payments running (wallet %s)', settings['keystore'])
        reactor.callLater(REJOIN_S, self._rejoin, handle, before)
        return self._set('running')

    def _connections(self):
        """The session's open connections: {info-hash: (torrent handle, [(ip, port)])}."""
        return {str(h.info_hash()): (h, [p.ip for p in h.get_peer_info()]) for h in self._session.get_torrents()}

    def _rejoin(self, handle, before):
        """Re-makes the connections that were open before `handle`'s payments started and still are."""
        if self._handle is not handle or self._session.is_paused():
            return  # stopped meanwhile, or paused by the user: its resume makes every connection anew
        now = self._connections()
        stale = [(h, [ip for ip in ips if ip in now.get(key, (None, ()))[1]]) for key, (h, ips) in before.items()]
        stale = [(h, ips) for h, ips in stale if ips]
        if not stale:
            return
        log.info('piecepay: re-making %d connection(s) opened before payments started, so that they pay',
                 sum(len(ips) for _, ips in stale))
        self._session.pause()
        self._session.resume()
        for h, ips in stale:
            for ip in ips:  # an incoming connection's port is not the peer's: that dial fails, and it redials
                h.connect_peer(ip, 0)
        torrents = component.get('TorrentManager')
        for torrent_id in torrents.torrents:  # as Deluge's own resume_session: the states shown are fresh
            torrents[torrent_id].update_state()
