"""What paying deluged need: a devnet (anvil, the contracts, a relayer; `piecepay-devnet`, built by
cargo), a funded wallet per daemon as an encrypted keystore (`cast wallet import`, from the pinned
Foundry toolchain), and the plugin configured with them and unlocked over RPC."""
import json
import os
import signal
import subprocess

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))
DEVNET = os.path.join(ROOT, 'target', 'debug', 'piecepay-devnet')
RELAYER = os.path.join(ROOT, 'target', 'debug', 'piecepay-relayer')
FOUNDRY = os.path.join(ROOT, 'contracts', 'node_modules', '@foundry-rs')
ANVIL = os.path.join(FOUNDRY, 'anvil-linux-amd64', 'bin', 'anvil')
CAST = os.path.join(FOUNDRY, 'cast-linux-amd64', 'bin', 'cast')
PASSWORD = 'bench and test password'
TOKEN = 10**18
# Prices in base units of an 18-decimal token: 1e12 per piece, a 256 MiB torrent costs 0.001 tokens.
POLICY = {'price': str(10**12), 'max_price': str(10**12), 'budget_per_torrent': str(10**16),
          'budget_total': str(10**17), 'deposit_per_channel': str(10**16), 'credit_window': 64, 'free_share': 0}


class Devnet:
    def __init__(self, root, peers=2, leechers=1, deposit_tokens=10):
        for path, what in ((DEVNET, 'cargo build -p piecepay-deploy'), (RELAYER, 'cargo build -p piecepay-relayer'),
                           (ANVIL, 'make setup-toolchain'), (CAST, 'make setup-toolchain')):
            if not os.path.isfile(path):
                raise AssertionError('%s is missing: run %s' % (path, what))
        self.state_dir = os.path.join(root, 'devnet')
        self.log_path = os.path.join(root, 'devnet.log')
        log = open(self.log_path, 'w')
        self.proc = subprocess.Popen(
            [DEVNET, '--json', '--port', '0', '--peers', str(peers), '--leechers', str(leechers),
             '--deposit', str(deposit_tokens), '--relayer-bin', RELAYER, '--anvil', ANVIL,
             '--state-dir', self.state_dir],
            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
        log.close()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            with open(self.log_path) as f:
                raise AssertionError('piecepay-devnet exited (%s):\n%s' % (self.proc.returncode, f.read()[-3000:]))
        self.info = json.loads(line)

    def peer(self, role, nth=0):
        """The devnet's nth funded peer of a role: leechers have a deposit in the escrow, seeders none."""
        return [p for p in self.info['peers'] if p['role'] == role][nth]

    def keystore(self, peer, directory):
        """The peer's key as an encrypted keystore (Foundry's format), password PASSWORD."""
        os.makedirs(directory, exist_ok=True)
        name = peer['account']['address']
        subprocess.run([CAST, 'wallet', 'import', name, '--private-key', peer['account']['key'],
                        '--keystore-dir', directory, '--unsafe-password', PASSWORD],
                       check=True, capture_output=True)
        return os.path.join(directory, name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


def configure(devnet, daemon, peer, keystore_dir, **policy):
    """Sets the plugin of `daemon` to pay with `peer`'s wallet (a keystore written into keystore_dir) on
    `devnet`, by POLICY changed by `policy`; returns the keystore's path (the wallet stays locked)."""
    info = devnet.info
    keystore = devnet.keystore(peer, keystore_dir)
    daemon.rpc('piecepay.set_config', dict(POLICY, **policy, keystore=keystore, manifest=info['manifest'],
                                           relayer_urls=[info['relayer']['url']], rpc_url=info['rpc_url']))
    return keystore


class PaidSetup:
    """A devnet whose peers' wallets the given daemons pay and are paid with."""

    def __init__(self, root):
        self.root = root
        self.devnet = Devnet(root)

    def enable(self, seeder, leecher, **policy):
        """Configures (POLICY, changed by `policy`) and unlocks the plugin of both; returns None when
        both pay, else why not."""
        for daemon, role in ((leecher, 'leecher'), (seeder, 'seeder')):
            configure(self.devnet, daemon, self.devnet.peer(role), os.path.join(self.root, 'keystores', daemon.name), **policy)
            status = daemon.rpc('piecepay.unlock', PASSWORD)
            if status['state'] != 'running':
                return '%s: error[%s]: %s' % (daemon.name, status['error_code'], status['error'])
        return None

    def stop(self):
        self.devnet.stop()
