"""The plugin against a real devnet (piecepay-devnet: anvil, the contracts, a relayer) with a wallet
written by Foundry's cast: what the deploy tool and cast produce passes the plugin's own checks and
starts the payments (the transfers are in test_paid.py)."""
from paid import POLICY


def test_a_devnet_wallet_reaches_the_payments(daemons, devnet):
    seeder, leecher = daemons('seeder'), daemons('leecher')
    # The wallet, manifest and relayer pass every check of the plugin's and of the agent's.
    assert devnet.enable(seeder, leecher) is None
    for d in (seeder, leecher):
        status = d.rpc('piecepay.get_status')
        assert (status['state'], status['payments']) == ('running', 'agent')
        assert d.rpc('piecepay.get_balances')['address'] == devnet.devnet.peer(d.name)['account']['address']
    config = leecher.rpc('piecepay.get_config')
    assert config['manifest'] == devnet.devnet.info['manifest']
    assert list(config['relayer_urls']) == [devnet.devnet.info['relayer']['url']]
    assert {k: config[k] for k in POLICY} == POLICY
