"""The plugin's settings and the agent's config file, checked without a daemon (pure modules)."""
import os
import stat
import tomllib

import pytest

from deluge_piecepay import agent_config, settings
from deluge_piecepay.errors import PiecepayError


def refused(changes, current=None):
    with pytest.raises(PiecepayError) as info:
        settings.merged(current or {}, changes)
    return info.value


def test_defaults_are_valid_and_complete():
    assert settings.merged({}, {}) == settings.DEFAULTS


def test_values_are_normalised():
    out = settings.merged({}, {
        'price': 1000, 'max_price': ' 2000 ', 'relayer_urls': 'http://127.0.0.1:1/, https://relay.example/v',
        'rpc_url': 'ws://127.0.0.1:8545', 'keystore': '/a/b/../key.json', 'credit_window': 8, 'free_share': 0,
    })
    assert out['price'] == '1000' and out['max_price'] == '2000'
    assert out['relayer_urls'] == ['http://127.0.0.1:1', 'https://relay.example/v']
    assert out['keystore'] == '/a/key.json'


@pytest.mark.parametrize('key,value', [
    ('price', '1.5'), ('price', -1), ('price', True), ('budget_total', 2**128), ('max_price', 'ten'),
    ('credit_window', 0), ('credit_window', '64'), ('free_share', -1),
    ('keystore', 'relative/key.json'), ('manifest', 3), ('password_env', 'NOT-A-NAME'),
    ('relayer_urls', ['ftp://127.0.0.1']), ('relayer_urls', ['not a url']), ('rpc_url', 'localhost:8545'),
])
def test_a_bad_value_is_refused_naming_the_setting(key, value):
    error = refused({key: value, 'price': '7'} if key != 'price' else {key: value})
    assert error.code == 'invalid_setting'
    assert error.message.startswith(key + ' ') and 'piecepay.conf' in error.message


def test_unknown_keys_are_refused_not_ignored():
    error = refused({'prcie': '1'})
    assert error.code == 'unknown_setting' and 'prcie' in error.message


def test_a_bad_stored_value_is_refused_until_it_is_set_right():
    stored = dict(settings.DEFAULTS, credit_window=-3)
    assert refused({'price': '5'}, stored).message.startswith('credit_window ')
    assert settings.merged(stored, {'credit_window': 16})['credit_window'] == 16


def test_wallet_problems_are_named_in_order(tmp_path):
    keystore, manifest = tmp_path / 'key.json', tmp_path / '31337.json'
    s = dict(settings.DEFAULTS)
    assert settings.wallet_problem(s).code == 'wallet_not_configured'
    s['keystore'] = str(keystore)
    assert settings.wallet_problem(s).code == 'keystore_missing'
    assert str(keystore) in settings.wallet_problem(s).message
    keystore.write_text('{}')
    assert settings.wallet_problem(s).code == 'manifest_not_configured'
    s['manifest'] = str(manifest)
    assert settings.wallet_problem(s).code == 'manifest_missing'
    manifest.write_text('{}')
    assert settings.wallet_problem(s).code == 'no_chain_access'
    s['relayer_urls'] = ['http://127.0.0.1:9']
    # The defaults neither sell nor buy: a fresh install is told what to set, not the agent's TOML error.
    assert settings.wallet_problem(s).code == 'policy_not_configured'
    assert '"price" (to sell) and/or "max_price" (to buy)' in settings.wallet_problem(s).message
    s['price'] = '5'
    assert settings.wallet_problem(s) is None


def test_buying_needs_a_budget_and_a_deposit_covering_a_piece():
    s = dict(settings.DEFAULTS, max_price='10')
    assert settings.policy_problem(s).message.startswith('set "budget_total" in piecepay.conf: buying (max_price 10)')
    s['budget_total'] = '1000'
    assert settings.policy_problem(s).message.startswith('set "deposit_per_channel" in piecepay.conf: buying')
    s['deposit_per_channel'] = '9'
    assert settings.policy_problem(s).message.startswith('set "deposit_per_channel" in piecepay.conf to at least max_price (10)')
    s['deposit_per_channel'] = str(2**96)
    assert settings.policy_problem(s).code == 'policy_incomplete'
    s['deposit_per_channel'] = '10'
    assert settings.policy_problem(s) is None


def test_the_agent_config_carries_every_setting_but_never_the_password(tmp_path):
    s = settings.merged({}, {
        'keystore': '/k/key.json', 'manifest': '/m/31337.json', 'relayer_urls': ['http://127.0.0.1:7'],
        'price': '10', 'max_price': '20', 'budget_per_torrent': '30', 'budget_total': '40',
        'deposit_per_channel': '50', 'credit_window': 6, 'free_share': 2,
    })
    path = agent_config.write(s, str(tmp_path / 'piecepay'))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path, 'rb') as f:
        toml = tomllib.load(f)
    assert toml == {
        'wallet': {'keystore': '/k/key.json', 'password_env': 'PIECEPAY_PASSWORD'},
        'chain': {'manifest': '/m/31337.json'},
        'relayer': {'urls': ['http://127.0.0.1:7']},
        'store': {'path': str(tmp_path / 'piecepay' / 'agent.sqlite')},
        'payee': {'price': '10', 'credit_pieces': 6, 'free_pieces': 2},
        'payer': {'max_price': '20', 'budget_total': '40', 'budget_per_torrent': '30', 'deposit_per_channel': '50'},
    }


def test_a_zero_price_sells_nothing_and_a_zero_max_price_buys_nothing(tmp_path):
    s = settings.merged({}, {'keystore': '/k/key.json', 'manifest': '/m/31337.json', 'rpc_url': 'http://127.0.0.1:8545'})
    with open(agent_config.write(s, str(tmp_path / 'piecepay')), 'rb') as f:
        toml = tomllib.load(f)
    assert toml['chain'] == {'manifest': '/m/31337.json', 'rpc_url': 'http://127.0.0.1:8545'}
    assert 'payee' not in toml and 'payer' not in toml and 'relayer' not in toml


def test_an_amount_is_checked_under_the_name_it_is_given():
    assert settings.amount('amount', 12) == '12'
    with pytest.raises(PiecepayError) as info:
        settings.amount('amount', '1e18')
    assert info.value.code == 'invalid_amount'
    assert info.value.message == "amount must be a whole number of token base units, got '1e18'"
