/**
 * A controllable `Date.now` (the one clock the middleware and MemoryStore
 * measure lifetimes with), so lifetimes are tested at their exact edges
 * without sleeping. `new Date()` and timers keep the real clock.
 */
export class FakeClock {
  #now: number;
  readonly #real = Date.now;

  constructor(start = Date.now()) {
    this.#now = start;
    Date.now = () => this.#now;
  }

  get now(): number {
    return this.#now;
  }

  advance(ms: number): void {
    this.#now += ms;
  }

  restore(): void {
    Date.now = this.#real;
  }
}
