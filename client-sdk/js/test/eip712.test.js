// Checks this package's EIP-712 types and signing against contracts/test/fixtures/eip712.json, which the
// escrow's forge script writes and forge and Rust tests check: a type, a field or the domain changed on the
// contract side fails here until the JavaScript side agrees again.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';

import { AbiCoder, SigningKey, TypedDataEncoder, getAddress, keccak256, toUtf8Bytes } from 'ethers';

import { TYPES, addressOf, channelId, digest, domain, recoverDigest, signDigest } from '../src/eip712.js';

const fixture = JSON.parse(readFileSync(new URL('../../../contracts/test/fixtures/eip712.json', import.meta.url), 'utf8'));
const MESSAGES = Object.entries(fixture).filter(([, v]) => v && typeof v === 'object' && 'typehash' in v);

test('the domain and the channel id', () => {
  const dom = domain(fixture.chainId, fixture.verifyingContract);
  assert.equal(dom.name, fixture.domainName);
  assert.equal(dom.version, fixture.domainVersion);
  assert.equal(TypedDataEncoder.hashDomain(dom), fixture.domainSeparator);
  assert.equal(channelId(fixture.payer, fixture.payee, fixture.salt), fixture.channelId);
  assert.equal(addressOf(new SigningKey(fixture.payerKey)), getAddress(fixture.payer));
  assert.equal(addressOf(new SigningKey(fixture.payeeKey)), getAddress(fixture.payee));
});

test('every signed message the fixture pins: type, typehash, struct hash, digest, signature', () => {
  // Every type this package knows is in the fixture, and the other way round.
  const pinned = MESSAGES.map(([, m]) => m.type.slice(0, m.type.indexOf('(')));
  assert.deepEqual([...pinned].sort(), Object.keys(TYPES).sort());
  const dom = domain(fixture.chainId, fixture.verifyingContract);
  for (const [name, m] of MESSAGES) {
    const type = m.type.slice(0, m.type.indexOf('('));
    const encoder = TypedDataEncoder.from({ [type]: TYPES[type] });
    assert.equal(encoder.encodeType(type), m.type, name);
    assert.equal(keccak256(toUtf8Bytes(m.type)), m.typehash, name);
    // The values, read back from the fixture's encoded data (every field is a static word).
    const fields = TYPES[type];
    const words = AbiCoder.defaultAbiCoder().decode(fields.map((f) => f.type), m.encodedData);
    const value = Object.fromEntries(fields.map((f, i) => [f.name, words[i]]));
    assert.equal(encoder.hash(value), m.structHash, name);
    assert.equal(digest(dom, type, value), m.digest, name);
    const key = new SigningKey(getAddress(m.signer) === getAddress(fixture.payer) ? fixture.payerKey : fixture.payeeKey);
    const sig = signDigest(key, m.digest);
    assert.equal(sig, `${m.r}${m.vs.slice(2)}`, name);
    assert.equal(recoverDigest(m.digest, sig), getAddress(m.signer), name);
  }
});
