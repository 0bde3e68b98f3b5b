// The bench's fixed identities: real EIP-712 signatures for this (chain id, escrow), nothing deployed or
// funded (anvil's public dev keys, as in libtorrent's bench).
export const BENCH_CHAIN = {
  chainId: 31337n,
  escrow: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  token: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512',
};
export const PAYEE_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d';
export const PAYER_KEY = '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a';
export const PRICE = 1000n;
