"""The client agent's config file (TOML, docs/agent.md), written from the plugin's settings.

This is the one place on the Python side that knows the agent's config format. The file lives in
Deluge's config directory (piecepay/agent.toml, mode 0600, rewritten atomically when a setting changes);
the agent's database sits beside it. The wallet's password is never written: it is handed to the
agent in memory.
"""
import json
import os


def _toml(value):
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_toml(v) for v in value) + ']'
    # A JSON string is a valid TOML basic string (same escapes) for the paths and URLs written here.
    return json.dumps(str(value))


def render(settings, data_dir):
    """The agent's TOML for these settings, in the format docs/agent.md ("Configuration") defines."""
    sections = {
        'wallet': {'keystore': settings['keystore'], 'password_env': settings['password_env']},
        'chain': {'manifest': settings['manifest'], 'rpc_url': settings['rpc_url']},
        'relayer': {'urls': settings['relayer_urls']} if settings['relayer_urls'] else {},
        'store': {'path': os.path.join(data_dir, 'agent.sqlite')},
        # A price of 0 sells nothing: peers get the free share only (the agent without [payee]).
        'payee': {
            'price': settings['price'],
            'credit_pieces': settings['credit_window'],
            'free_pieces': settings['free_share'],
        } if settings['price'] != '0' else {},
        # A maximum price of 0 never pays (the agent without [payer]); a budget per torrent of 0 is the
        # total budget (the agent's default).
        'payer': {
            'max_price': settings['max_price'],
            'budget_total': settings['budget_total'],
            'budget_per_torrent': '' if settings['budget_per_torrent'] == '0' else settings['budget_per_torrent'],
            'deposit_per_channel': settings['deposit_per_channel'],
        } if settings['max_price'] != '0' else {},
    }
    lines = ['# Written by the piecepay Deluge plugin from piecepay.conf; edit the settings, not this file.']
    for name, keys in sections.items():
        if not keys:
            continue
        lines.append('')
        lines.append('[%s]' % name)
        for key, value in keys.items():
            if value == '':
                continue  # an unset optional setting is left out, not written empty
            lines.append('%s = %s' % (key, _toml(value)))
    return '\n'.join(lines) + '\n'


def write(settings, data_dir):
    """Writes the agent's config into data_dir and returns its path."""
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    path = os.path.join(data_dir, 'agent.toml')
    tmp = path + '.tmp'
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, 'w') as f:
        f.write(render(settings, data_dir))
    os.replace(tmp, path)
    return path
