interface Point {
  arrived: number;
  watchers: Array<{ count: number; resolve: () => void }>;
  go: Promise<void>;
  open: () => void;
}

/**
 * Holds requests at named points until the test lets them go, so the order of
 * concurrent requests is set by the test, not by sleeps: the app awaits
 * `hold(name)` where it should stop, the test awaits `reached(name, count)`,
 * does what must happen meanwhile, then calls `open(name)`.
 */
export class Gate {
  readonly #points = new Map<string, Point>();

  /** Called by the app: resolves once the test opens `name`. */
  hold(name: string): Promise<void> {
    const point = this.#point(name);
    point.arrived++;
    for (const watcher of point.watchers.filter((w) => point.arrived >= w.count)) watcher.resolve();
    point.watchers = point.watchers.filter((w) => point.arrived < w.count);
    return point.go;
  }

  /** Resolves once `count` requests are held at `name`. */
  reached(name: string, count = 1): Promise<void> {
    const point = this.#point(name);
    if (point.arrived >= count) return Promise.resolve();
    return new Promise((resolve) => point.watchers.push({ count, resolve }));
  }

  /** Lets every request held at `name` go on, and any that arrives there later. */
  open(name: string): void {
    this.#point(name).open();
  }

  #point(name: string): Point {
    let point = this.#points.get(name);
    if (point === undefined) {
      let open!: () => void;
      const go = new Promise<void>((resolve) => (open = resolve));
      point = { arrived: 0, watchers: [], go, open };
      this.#points.set(name, point);
    }
    return point;
  }
}
