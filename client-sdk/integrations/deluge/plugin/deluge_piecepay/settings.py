"""The plugin's settings (piecepay.conf in Deluge's config directory): defaults, and the checks every
change passes before anything is saved or applied, so a bad value is refused whole with one line that
names the setting. Pure: no Deluge, no libtorrent, so it is tested on its own.

Amounts are in the token's base units (18 decimals for the project's token), as decimal strings: they
exceed what Deluge's RPC encoding carries as integers. Counts of pieces are integers.
"""
import os
import re

from .errors import PiecepayError

CONFIG_FILE = 'piecepay.conf'

DEFAULTS = {
    # The wallet: an encrypted keystore (Foundry/Ethereum format). Its password comes from deluged's
    # environment (this variable) or from the `unlock` RPC method, and is only ever held in memory.
    'keystore': '',
    'password_env': 'PIECEPAY_PASSWORD',
    # The deployment (the deploy tool's manifest) and how to reach the chain: one or more relayers
    # and/or a JSON-RPC endpoint (optional when a relayer is configured).
    'manifest': '',
    'relayer_urls': [],
    'rpc_url': '',
    # Selling: the price per piece asked from peers, the pieces a peer may be served before it pays
    # (credit window), and the pieces served to a peer that does not pay (free share).
    'price': '0',
    'credit_window': 64,
    'free_share': 0,
    # Buying: the most paid per piece (0: never pay), what may be spent per torrent and in total, and
    # what is deposited into each channel opened (topped up within the budgets).
    'max_price': '0',
    'budget_per_torrent': '0',
    'budget_total': '0',
    'deposit_per_channel': '0',
}

AMOUNTS = ('price', 'max_price', 'budget_per_torrent', 'budget_total', 'deposit_per_channel')
PATHS = ('keystore', 'manifest')
_ENV_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]*$')
_URL = re.compile(r'^(?P<scheme>[a-z]+)://[^/\s:]+(:\d{1,5})?(/\S*)?$')


def _refuse(key, why, value):
    raise PiecepayError('invalid_setting', '%s %s, got %r (%s)' % (key, why, value, CONFIG_FILE))


def amount(key, value):
    """`value` as an amount of base units (a decimal string), or PiecepayError (invalid_amount)
    naming `key`: the settings' rule for amounts that are not settings (a withdrawal)."""
    try:
        return _amount(key, value)
    except PiecepayError as ex:
        raise PiecepayError('invalid_amount', ex.message.replace(' (%s)' % CONFIG_FILE, '')) from None


def _amount(key, value):
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        _refuse(key, 'must be a whole number of token base units', value)
    text = str(value).strip()
    if not text.isdigit() or not text.isascii():
        _refuse(key, 'must be a whole number of token base units', value)
    amount = int(text)
    if amount >= 2**128:
        _refuse(key, 'must be below 2^128 base units', value)
    return str(amount)


def _count(key, value, least):
    if isinstance(value, bool) or not isinstance(value, int) or value < least or value > 1_000_000:
        _refuse(key, 'must be a whole number of pieces from %d to 1000000' % least, value)
    return value


def _path(key, value):
    if not isinstance(value, str):
        _refuse(key, 'must be a file path', value)
    if value == '':
        return ''
    path = os.path.expanduser(value.strip())
    if not os.path.isabs(path):
        _refuse(key, 'must be an absolute path (deluged resolves nothing against its working directory)', value)
    return os.path.normpath(path)


def _url(key, value, schemes):
    if not isinstance(value, str) or not _URL.match(value.strip()):
        _refuse(key, 'must be a URL (%s)' % ', '.join(s + '://host[:port][/path]' for s in schemes), value)
    url = value.strip()
    if _URL.match(url).group('scheme') not in schemes:
        _refuse(key, 'must use %s' % ' or '.join(schemes), value)
    return url.rstrip('/')


def _one(key, value):
    if key in AMOUNTS:
        return _amount(key, value)
    if key in PATHS:
        return _path(key, value)
    if key == 'password_env':
        if not isinstance(value, str) or not _ENV_NAME.match(value):
            _refuse(key, 'must be an environment variable name', value)
        return value
    if key == 'relayer_urls':
        if isinstance(value, str):
            value = [u for u in re.split(r'[,\s]+', value) if u]
        if not isinstance(value, (list, tuple)):
            _refuse(key, 'must be a list of URLs', value)
        return [_url(key, u, ('http', 'https')) for u in value]
    if key == 'rpc_url':
        return '' if value == '' else _url(key, value, ('http', 'https', 'ws', 'wss'))
    if key == 'credit_window':
        return _count(key, value, 1)
    if key == 'free_share':
        return _count(key, value, 0)
    raise AssertionError(key)


def merged(current, changes):
    """The settings after `changes`, every value checked (those kept from `current` too: a hand-edited
    file is refused until its bad value is set right); raises PiecepayError on the first bad one, and
    then nothing is changed. Unknown keys are refused (a typo must not be silently ignored)."""
    if not isinstance(changes, dict):
        raise PiecepayError('invalid_setting', 'expected a dictionary of settings, got %r' % (changes,))
    unknown = sorted(set(changes) - set(DEFAULTS))
    if unknown:
        raise PiecepayError(
            'unknown_setting',
            '%s is not a setting of %s (known: %s)' % (', '.join(unknown), CONFIG_FILE, ', '.join(sorted(DEFAULTS))),
        )
    out = {key: changes.get(key, current.get(key, default)) for key, default in DEFAULTS.items()}
    return {key: _one(key, value) for key, value in out.items()}


def wallet_problem(settings):
    """Why payments cannot start with these settings (a PiecepayError), or None; only files and
    settings are looked at here: the wallet's password and the chain are the agent's to check."""
    keystore, manifest = settings['keystore'], settings['manifest']
    where = 'in %s' % CONFIG_FILE
    if not keystore:
        return PiecepayError('wallet_not_configured', 'no wallet: set "keystore" %s (set_config over RPC)' % where)
    if not os.path.isfile(keystore):
        return PiecepayError('keystore_missing', 'wallet keystore %s does not exist (setting "keystore" %s)' % (keystore, where))
    if not os.access(keystore, os.R_OK):
        return PiecepayError('keystore_unreadable', 'wallet keystore %s is not readable by deluged (setting "keystore")' % keystore)
    if not manifest:
        return PiecepayError('manifest_not_configured',
                             'no deployment: set "manifest" (deploy/deployments/<chainId>.json, by piecepay-deploy) %s' % where)
    if not os.path.isfile(manifest):
        return PiecepayError('manifest_missing', 'deployment manifest %s does not exist (setting "manifest" %s)' % (manifest, where))
    if not settings['relayer_urls'] and not settings['rpc_url']:
        return PiecepayError('no_chain_access',
                             'set "relayer_urls" or "rpc_url" %s: the wallet needs a relayer or a JSON-RPC endpoint' % where)
    return policy_problem(settings)


def policy_problem(settings):
    """Why the agent would refuse this buying and selling policy (docs/agent.md, "Configuration"), as
    one line naming the setting to change, or None: the defaults neither sell nor buy, so a fresh install
    is told here what to set rather than getting the agent's own message about its TOML."""
    where = 'in %s' % CONFIG_FILE
    price, max_price = settings['price'], settings['max_price']
    if price == '0' and max_price == '0':
        return PiecepayError('policy_not_configured',
                             'set "price" (to sell) and/or "max_price" (to buy) %s: with both 0 there is nothing '
                             'to pay or be paid' % where)
    if max_price == '0':
        return None
    for key in ('budget_total', 'deposit_per_channel'):
        if settings[key] == '0':
            return PiecepayError('policy_incomplete', 'set "%s" %s: buying (max_price %s) needs it above 0'
                                 % (key, where, max_price))
    if int(settings['deposit_per_channel']) < int(max_price):
        return PiecepayError('policy_incomplete', 'set "deposit_per_channel" %s to at least max_price (%s): '
                             'a channel must cover one piece' % (where, max_price))
    if int(max_price) >= 2**96 or int(settings['deposit_per_channel']) >= 2**96:
        return PiecepayError('policy_incomplete', '"max_price" and "deposit_per_channel" %s must be below 2^96 '
                             '(the escrow\'s amounts)' % where)
    return None
