// The other processes the interoperability tests run: the libtorrent program (one small function, so a
// change of that program touches one place) and this package's own CLI. Each prints JSON lines on stdout;
// both are stopped with SIGTERM and print a last report.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

import { ROOT } from './devnet.js';

/** Where `make -C client-sdk/integrations/libtorrent` puts the program (demo/peer.cpp: seed, leech). */
export const LIBTORRENT = `${ROOT}client-sdk/integrations/libtorrent/build/dev/piecepay-torrent`;
const CLI = fileURLToPath(new URL('../../bin/piecepay-webtorrent.js', import.meta.url));

/**
 * A libtorrent session with piecepay's plugin, one role: `seed` (a payee seeding a generated torrent; it
 * serves the channels in `channels`, checked on chain by the caller) or `leech` (a payer downloading
 * `torrent` from `peer`, paying on the channels in `channels`, opened on chain by the caller, at most
 * `price` a piece).
 *
 * @param {'seed' | 'leech'} role
 * @param {{ key: string, chainId: number, escrow: string, token: string, price?: bigint, creditPieces?: number,
 *   channels: { peer: string, salt: number, deposit: bigint }[], sizeKib?: number, pieceKib?: number,
 *   torrent?: string, peer?: string, dir: string }} o
 */
export function startLibtorrent(role, o) {
  if (!existsSync(LIBTORRENT)) throw new Error(`${LIBTORRENT} is missing: make -C client-sdk/integrations/libtorrent`);
  const channels = o.channels.map((c) => `${c.peer}:${c.salt}:${c.deposit}`).join(',');
  const args = [role, '--key', o.key, '--chain-id', String(o.chainId), '--escrow', o.escrow, '--token', o.token, '--dir', o.dir];
  if (role === 'seed') {
    args.push('--price', String(o.price), '--credit-pieces', String(o.creditPieces ?? 64), '--verified', channels);
    args.push('--size-kib', String(o.sizeKib ?? 2048), '--piece-kib', String(o.pieceKib ?? 64));
  } else {
    args.push('--torrent', /** @type {string} */ (o.torrent), '--peer', /** @type {string} */ (o.peer), '--open-channel', channels);
    args.push('--max-price', String(o.price));
  }
  return run(LIBTORRENT, args);
}

/**
 * `piecepay-webtorrent` with `--json`.
 *
 * @param {string[]} args
 */
export function startCli(args) {
  return run(process.execPath, [CLI, ...args, '--json']);
}

/**
 * A child printing JSON lines: `next(test)` waits for the next line `test` accepts, `stop()` sends SIGTERM
 * and resolves with the exit status and every line printed.
 *
 * @param {string} bin
 * @param {string[]} args
 */
function run(bin, args) {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  /** @type {any[]} */
  const lines = [];
  /** @type {string[]} */
  const log = [];
  /** @type {(() => void)[]} */
  let waiters = [];
  const wake = () => {
    const now = waiters;
    waiters = [];
    for (const w of now) w();
  };
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      lines.push(JSON.parse(line));
    } catch {
      log.push(line);
    }
    wake();
  });
  createInterface({ input: child.stderr }).on('line', (line) => {
    log.push(line);
    if (log.length > 200) log.shift();
  });
  /** @type {number | null} */
  let status = null;
  const exited = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      status = code ?? (signal ? 128 : 1);
      wake();
      resolve(status);
    });
  });
  const orphan = () => child.kill('SIGKILL');
  process.once('exit', orphan);
  let read = 0;
  return {
    lines,
    log,
    /**
     * @param {(line: any) => boolean} [test]
     * @param {number} [ms]
     */
    async next(test = () => true, ms = 60_000) {
      const deadline = Date.now() + ms;
      for (;;) {
        while (read < lines.length) {
          const line = lines[read++];
          if (test(line)) return line;
        }
        if (status !== null) throw new Error(`${bin} ${args[0]} exited (${status}):\n${log.slice(-30).join('\n')}`);
        if (Date.now() > deadline) throw new Error(`${bin} ${args[0]}: no such line in time:\n${log.slice(-30).join('\n')}`);
        await new Promise((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 200);
        });
      }
    },
    /** Resolves with the exit status once the process exited by itself. */
    exited,
    async stop() {
      if (status === null) child.kill('SIGTERM');
      await exited;
      process.off('exit', orphan);
      return { status, lines, log };
    },
  };
}
