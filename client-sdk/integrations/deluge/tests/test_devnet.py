"""The plugin against a real devnet (piecepay-devnet: anvil, the contracts, a relayer) with a wallet
written by Foundry's cast: what the deploy tool and cast produce passes the plugin's own checks and
reaches the payments. The payments themselves wait for the client agent (issue 13); when it lands,
this is where the paid tests start."""
import pytest

from paid import POLICY, PaidSetup


@pytest.fixture
def devnet(tmp_path):
    setup = PaidSetup(str(tmp_path))
    yield setup
    setup.stop()


def test_a_devnet_wallet_reaches_the_payments(daemons, devnet):
    seeder, leecher = daemons('seeder'), daemons('leecher')
    problem = devnet.enable(seeder, leecher)
    # This build has no agent: the wallet, manifest and relayer passed every check of the plugin's and
    # were handed to the payments, which refuse to start without the agent.
    assert problem.startswith('leecher: error[agent_unavailable]: ')
    config = leecher.rpc('piecepay.get_config')
    assert config['manifest'] == devnet.devnet.info['manifest']
    assert list(config['relayer_urls']) == [devnet.devnet.info['relayer']['url']]
    assert {k: config[k] for k in POLICY} == POLICY
