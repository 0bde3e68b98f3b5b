"""The plugin's core part, inside deluged: settings, the payments' lifecycle, per-torrent status fields
and the RPC methods (namespace `piecepay`).

Enabling never fails because of payments: a wallet that cannot be opened leaves the plugin enabled in
the `error` state (payments.py), reported over RPC and in the log, and Deluge keeps serving torrents.
Disabling stops the agent, joins its threads and removes every RPC method and status field.
"""
import functools
import json
import logging
import os

import deluge.configmanager
from deluge import component
from deluge.common import AUTH_LEVEL_ADMIN
from deluge.core.rpcserver import export
from deluge.error import DelugeError
from deluge.event import DelugeEvent
from deluge.plugins.pluginbase import CorePluginBase
from twisted.internet import defer, task, threads

from . import native, settings
from .errors import PiecepayError
from .log import log
from .payments import Payments

# Per-torrent status fields (Deluge's status API: core.get_torrent_status, web UI columns), and where
# each comes from in the agent's per-torrent totals. Amounts are decimal strings of base units.
STATUS_FIELDS = {
    'piecepay_spent': 'spent',
    'piecepay_earned': 'earned',
    'piecepay_pending': 'pending',
    'piecepay_peers_paying': 'peers_paying',
    'piecepay_peers_paid': 'peers_paid',
}
_NO_TOTALS = {'spent': '0', 'earned': '0', 'pending': '0', 'peers_paying': 0, 'peers_paid': 0}


def rpc_errors(method):
    """Answers an RPC client with DelugeError('error[<code>]: <message>') for the plugin's refusals and
    the native module's: Deluge's RPC sends other exceptions wrapped with a traceback, and Deluge's own
    client (deluge-web, deluge-console, the GTK UI) can only rebuild the exception types of
    deluge.error: any other type leaves its call unanswered."""

    def rpc(error):
        if isinstance(error, PiecepayError):
            return DelugeError(str(error))
        args = getattr(error, 'args', ())
        if type(error).__name__ == 'Error' and len(args) == 2:  # _native.Error(code, message)
            return DelugeError(str(PiecepayError(*args)))
        return error

    def errback(failure):
        raise rpc(failure.value)

    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            result = method(*args, **kwargs)
        except Exception as ex:
            raise rpc(ex) from ex
        if isinstance(result, defer.Deferred):
            result.addErrback(errback)
        return result

    return wrapper


def log_event(event):
    """One line per agent event (its JSON as docs/agent.md lists them): what the payments did, in deluged's
    log, where an operator looks first; `error` events at warning level."""
    try:
        kind = json.loads(event).get('type', '')
    except ValueError:
        kind = ''
    log.log(logging.WARNING if kind == 'error' else logging.INFO, 'piecepay: event %s', event)


class PiecepayStatusEvent(DelugeEvent):
    """Emitted when the payments' state changes; its one argument is piecepay.get_status()'s answer."""

    def __init__(self, status):
        self._args = [status]


class Core(CorePluginBase):
    def enable(self):
        self.config = deluge.configmanager.ConfigManager(settings.CONFIG_FILE, dict(settings.DEFAULTS))
        self._totals = {}
        self._password = None
        self._native_info = {}
        self.payments = None
        self._fatal = None  # the native module cannot serve this deluged: only a rebuilt egg helps
        # Our own timer, not the Component's update(): Deluge starts that only for a plugin enabled while
        # deluged runs, not for one enabled at start-up.
        self._refresh = task.LoopingCall(self._read_totals)
        self._refresh.start(1.0, now=False)
        plugins = component.get('CorePluginManager')
        for field, key in STATUS_FIELDS.items():
            plugins.register_status_field(field, self._status_getter(key))
        try:
            module = native.load()
            session = component.get('Core').session
            self._native_info = dict(module.check_session(session))
            self._hashing_threads = lambda: module.hashing_threads(session)
        except PiecepayError as ex:
            self._fatal = ex
        except Exception as ex:  # _native.Error(code, message): Deluge's session is not what it was built for
            self._fatal = PiecepayError(*ex.args) if len(ex.args) == 2 else PiecepayError('native_session', str(ex))
        if self._fatal is not None:
            log.error('piecepay: %s; torrents are served without payments', self._fatal)
            return
        self.payments = Payments(module, session, deluge.configmanager.get_config_dir('piecepay'), self._emit_status)
        log.info('piecepay: enabled (libtorrent %s, payments: %s)', self._native_info['libtorrent'], self._native_info['payments'])
        try:
            current = settings.merged({}, dict(self.config.config))
        except PiecepayError as ex:  # a hand-edited piecepay.conf: refused until set_config fixes it
            self.payments.refuse(ex)
            return
        self._password = os.environ.get(current['password_env']) or None
        # Not waited for: opening the wallet and reaching the chain takes seconds, and Deluge's start-up
        # must not wait on them. get_status() says `starting` meanwhile.
        self.payments.restart(current, self._password)

    def disable(self):
        if self._refresh.running:
            self._refresh.stop()
        plugins = component.get('CorePluginManager')
        for field in STATUS_FIELDS:
            plugins.deregister_status_field(field)
        self._deregister_rpc()
        self._totals = {}
        self._password = None
        stopped = self.payments.stop() if self.payments else defer.succeed(None)
        stopped.addBoth(lambda result: deluge.configmanager.close(settings.CONFIG_FILE) or result)
        stopped.addCallback(lambda _: log.info('piecepay: disabled'))
        return stopped

    def _read_totals(self):
        handle = self.payments.running if self.payments else None
        if handle is not None:
            try:
                self._totals = handle.totals()
                events = handle.events()
            except Exception as ex:  # the agent stopping under us: the next update reads again
                log.warning('piecepay: reading the totals failed: %s', ex)
                return
            for event in events:
                log_event(event)

    # -- RPC -----------------------------------------------------------------------------------------

    @export
    @rpc_errors
    def get_config(self):
        """The settings (piecepay.conf). The wallet's password is never part of them."""
        return dict(self.config.config)

    @export(AUTH_LEVEL_ADMIN)
    @rpc_errors
    def set_config(self, changes):
        """Checks every change, saves them, then applies them to the running payments (the agent is
        restarted with the new settings; deluged is not). Fires with get_status() once applied; a bad
        value changes nothing."""
        new = settings.merged(dict(self.config.config), changes)
        for key, value in new.items():
            self.config[key] = value
        self.config.save()
        log.info('piecepay: settings changed: %s', ', '.join(sorted(changes)) or 'none')
        if 'password_env' in changes:
            self._password = os.environ.get(new['password_env']) or self._password
        return self._apply(new)

    @export(AUTH_LEVEL_ADMIN)
    @rpc_errors
    def unlock(self, password):
        """Opens the wallet with this password (kept in memory only, never saved) and starts payments.
        Fires with get_status(): `running`, or `error` with the agent's reason (a wrong password…)."""
        if not isinstance(password, str) or not password:
            raise PiecepayError('invalid_password', 'the password must be a non-empty string')
        self._password = password
        return self._apply(settings.merged({}, dict(self.config.config)))

    @export
    @rpc_errors
    def get_status(self):
        """{'state', 'error_code', 'error', 'payments', 'libtorrent', 'session_port', 'hashing_threads'}: the
        states are payments.py's; `payments` is what this build pays with, `session_port` the port Deluge's
        session listens on as the native module reads it from libtorrent (it is attached to that session),
        `hashing_threads` libtorrent's hashing threads in that session now (raised while payments run; 0
        when the module cannot reach it)."""
        if self._fatal is not None:
            status = {'state': 'error', 'error_code': self._fatal.code, 'error': self._fatal.message,
                      'hashing_threads': 0}
        else:
            status = self.payments.status()
            status['hashing_threads'] = self._hashing_threads()
        status['payments'] = self._native_info.get('payments', '')
        status['libtorrent'] = self._native_info.get('libtorrent', '')
        status['session_port'] = self._native_info.get('listen_port', 0)
        return status

    @export
    @rpc_errors
    def get_totals(self):
        """Per torrent id: spent, earned, pending (decimal base units), peers_paying, peers_paid."""
        return {tid: dict(self._totals.get(tid, _NO_TOTALS)) for tid in component.get('TorrentManager').get_torrent_list()}

    @export
    @rpc_errors
    def get_balances(self):
        """The wallet: address, token_balance (outside the escrow), free (withdrawable), locked (in
        channels); decimal base units."""
        return threads.deferToThread(self._handle().wallet)

    @export(AUTH_LEVEL_ADMIN)
    @rpc_errors
    def withdraw(self, amount='all'):
        """Withdraws `amount` base units (or 'all') of the free balance to the wallet; fires with the
        amount withdrawn."""
        if amount != 'all':
            amount = settings.amount('amount', amount)
        return threads.deferToThread(self._handle().withdraw, amount)

    @export(AUTH_LEVEL_ADMIN)
    @rpc_errors
    def close_all(self):
        """Closes every channel (cooperatively where the peer answers); fires with how many."""
        return threads.deferToThread(self._handle().close_all)

    # -- internals -------------------------------------------------------------------------------------

    def _apply(self, new):
        if self._fatal is not None:
            return defer.fail(self._fatal)
        d = self.payments.restart(new, self._password)
        d.addCallback(lambda _: self.get_status())
        return d

    def _handle(self):
        if self._fatal is not None:
            raise self._fatal
        handle = self.payments.running
        if handle is None:
            status = self.payments.status()
            raise PiecepayError('not_running', 'payments are %s%s' % (
                status['state'], ': ' + status['error'] if status['error'] else ''))
        return handle

    def _status_getter(self, key):
        return lambda torrent_id: self._totals.get(torrent_id, _NO_TOTALS)[key]

    def _emit_status(self, _status):
        component.get('EventManager').emit(PiecepayStatusEvent(self.get_status()))

    def _deregister_rpc(self):
        # Deluge 2.0.3's CorePluginBase removes an object's RPC methods only in __del__, and its loop
        # deletes from the dict it iterates (a RuntimeError, swallowed): a disabled plugin's methods would
        # stay callable. Remove ours here, from a copy of the keys.
        methods = component.get('RPCServer').factory.methods
        for name in [n for n, m in methods.items() if getattr(m, '__self__', None) is self]:
            del methods[name]
