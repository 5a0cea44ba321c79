import { RecordingStore } from './stores.js';

/** A RecordingStore that tests drive through its connect/disconnect events, and that counts quit() calls. */
export class EmitterStore extends RecordingStore {
  quits = 0;
  connected = true;
  /** Resolves pending set() calls when `hold` is on; lets a test keep a write in flight. */
  #held: Array<() => void> = [];
  hold = false;

  disconnect(): void {
    this.connected = false;
    this.emit('disconnect');
  }

  reconnect(): void {
    this.connected = true;
    this.emit('connect');
  }

  override async set(key: string, session: Parameters<RecordingStore['set']>[1], ttl?: number): Promise<void> {
    if (this.hold) await new Promise<void>((resolve) => this.#held.push(resolve));
    return super.set(key, session, ttl);
  }

  /** How many writes are being held. */
  get heldWrites(): number {
    return this.#held.length;
  }

  release(): void {
    const held = this.#held;
    this.#held = [];
    for (const resolve of held) resolve();
  }

  async quit(): Promise<void> {
    this.quits++;
    this.calls.push({ op: 'quit' });
    this.emit('disconnect');
  }
}
