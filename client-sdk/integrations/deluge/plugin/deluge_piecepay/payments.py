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
from twisted.internet import defer, threads

from . import agent_config
from .errors import PiecepayError
from .log import log
from .settings import wallet_problem

# Deluge adds its torrents before the plugin starts payments (at start-up, enable, unlock, every
# settings change). The payments have joined every torrent of the session when they start (the libtorrent
# integration's attach returns then), but the connections open by then went through their handshake
# without piecepay's extension: unpaid, and refused by a seller past its free share. So those are re-made
# at once (libtorrent's session pause and resume, then those peers dialled again: libtorrent would wait
# its min_reconnect_time, a minute, before it redials them). Connections made later have the handshake.


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
            handle = yield threads.deferToThread(self._native.start, self._session, path, password)
        except self._native.Error as ex:
            return self._set('error', PiecepayError(*ex.args))
        except OSError as ex:
            return self._set('error', PiecepayError('data_dir', 'cannot write the agent\'s config in %s: %s' % (self._data_dir, ex)))
        except Exception as ex:  # a bug of ours: reported like any refusal, never an unhandled Deferred
            return self._set('error', PiecepayError('internal', 'starting payments failed: %r' % ex))
        self._handle = handle
        log.info('piecepay: payments running (wallet %s)', settings['keystore'])
        self._rejoin()
        return self._set('running')

    def _rejoin(self):
        """Re-makes the connections open now: made before the payments joined their torrent."""
        if self._session.is_paused():
            return  # paused by the user: its resume makes every connection anew
        stale = [(h, [p.ip for p in h.get_peer_info()]) for h in self._session.get_torrents()]
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
