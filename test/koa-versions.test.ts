// One session behaviour suite, run unchanged against koa@1, koa@2 and koa@3
// apps (npm aliases installed side by side), in eager and defer modes.
import { MemoryStore } from '../lib/index.js';
import { VARIANTS, sessionBehaviour, type InspectableStore } from './support/koa-matrix.js';

function memoryStore(): InspectableStore {
  const store = new MemoryStore();
  return { store, read: (key) => store.get(key) ?? undefined };
}

for (const variant of VARIANTS) {
  for (const defer of [false, true]) {
    describe(`${variant.name}, ${defer ? 'defer' : 'eager'} mode`, () => {
      sessionBehaviour(variant, defer, memoryStore);
    });
  }
}
