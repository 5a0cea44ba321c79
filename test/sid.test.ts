import { expect } from 'chai';
import { uid } from '../lib/sid.js';

const ALPHABET = /^[A-Za-z0-9_-]+$/;

describe('default session ids (pooled random bytes)', () => {
  it('are 24 characters of uid2\'s alphabet, all different, across many pool refills', () => {
    const ids = new Set<string>();
    const seen = new Set<string>();
    for (let i = 0; i < 20_000; i++) {
      const id = uid(24);
      expect(id).to.have.lengthOf(24);
      expect(id).to.match(ALPHABET);
      ids.add(id);
      for (const c of id) seen.add(c);
    }
    expect(ids.size).to.equal(20_000);
    expect(seen.size).to.equal(64);
  });

  it('makes ids of any length, longer than the pool included', () => {
    for (const length of [1, 7, 4095, 4096, 4097, 10_000]) {
      const id = uid(length);
      expect(id).to.have.lengthOf(length);
      expect(id).to.match(ALPHABET);
    }
  });
});
