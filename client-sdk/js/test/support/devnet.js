// A devnet for the tests: `piecepay-devnet` (deploy/src/bin/piecepay-devnet.rs) — anvil, the contracts, funded
// accounts and a relayer on SQLite — started on free ports and stopped (SIGTERM, which stops its children)
// when the test is done. The binaries come from `cargo build -p piecepay-relayer -p piecepay-deploy`, which
// `make test-js` runs first.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { ChainClient } from '../../src/chain.js';
import { RelayerClient } from '../../src/relayer.js';

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const BIN = `${ROOT}target/debug/`;

/**
 * Starts a devnet; resolves with its description (as `piecepay-devnet --json` prints it) and `stop()`.
 *
 * @param {{ peers?: number, leechers?: number, deposit?: number }} [options] deposit in whole tokens
 */
export async function startDevnet(options = {}) {
  for (const bin of ['piecepay-devnet', 'piecepay-relayer']) {
    if (!existsSync(`${BIN}${bin}`)) throw new Error(`${BIN}${bin} is missing: cargo build -p piecepay-relayer -p piecepay-deploy`);
  }
  const args = ['--port', '0', '--json', '--relayer-bin', `${BIN}piecepay-relayer`, '--peers', String(options.peers ?? 4),
    '--leechers', String(options.leechers ?? 2), '--deposit', String(options.deposit ?? 100)];
  const env = { ...process.env, PIECEPAY_ANVIL: `${ROOT}contracts/node_modules/.bin/anvil` };
  const child = spawn(`${BIN}piecepay-devnet`, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log = [];
  createInterface({ input: child.stderr }).on('line', (line) => log.push(line));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  // If the test process ends without stopping it, the devnet (and so anvil and the relayer) goes too.
  const orphan = () => child.kill('SIGTERM');
  process.once('exit', orphan);
  const first = await Promise.race([
    new Promise((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
    exited.then((code) => Promise.reject(new Error(`piecepay-devnet exited (${code}):\n${log.join('\n')}`))),
  ]);
  const info = JSON.parse(first);
  return {
    ...info,
    stop: async () => {
      process.off('exit', orphan);
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * What most tests start from: a devnet, a read-only chain client and a relayer client on it, the funded
 * accounts by role, and a temporary directory; `stop()` undoes all of it.
 *
 * @param {string} name the temporary directory's prefix
 * @param {{ peers?: number, leechers?: number, deposit?: number }} [options]
 */
export async function startTestbed(name, options) {
  const devnet = await startDevnet(options);
  const chain = await ChainClient.connect({ rpcUrl: devnet.rpc_url, escrow: devnet.escrow });
  return {
    devnet,
    chain,
    relayer: new RelayerClient(devnet.relayer.url, { chainId: devnet.chain_id, escrow: devnet.escrow }),
    dir: mkdtempSync(join(tmpdir(), `piecepay-${name}-`)),
    /** @returns {{ address: string, key: string }[]} */
    leechers: () => devnet.peers.filter((p) => p.role === 'leecher').map((p) => p.account),
    /** @returns {{ address: string, key: string }[]} */
    seeders: () => devnet.peers.filter((p) => p.role === 'seeder').map((p) => p.account),
    /** A chain client sending transactions from `key` (destroy it when done). @param {string} key */
    chainAs: (key) => ChainClient.connect({ rpcUrl: devnet.rpc_url, escrow: devnet.escrow, key }),
    async stop() {
      chain.destroy();
      await devnet.stop();
      rmSync(this.dir, { recursive: true, force: true });
    },
  };
}

/**
 * Polls `check` until it returns something truthy, and returns that; fails after `ms`. For conditions on
 * the chain or a relayer, which tell nothing when they change.
 *
 * @template T
 * @param {() => T | Promise<T>} check
 * @param {number} [ms]
 */
export async function eventually(check, ms = 30_000) {
  const until = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
