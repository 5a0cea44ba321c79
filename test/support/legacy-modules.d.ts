// Types for the legacy packages the Koa version matrix loads. koa@2 is typed
// by @types/koa; koa@1, koa-convert and koa-generic-session 1.x ship none.

declare module 'koa2' {
  import Koa from 'koa';
  export default Koa;
}

declare module 'koa1' {
  import type { IncomingMessage, ServerResponse } from 'node:http';
  import type { EventEmitter } from 'node:events';

  /** koa v1 middleware: `this` is the context, `next` the downstream generator. */
  type Koa1Middleware = (this: any, next: Generator) => Generator;

  interface Koa1Application extends EventEmitter {
    keys: string[];
    silent: boolean;
    /** NODE_ENV by default; under 'test' koa 1 logs no errors. */
    env: string;
    experimental?: boolean;
    context: object;
    use(fn: Koa1Middleware): this;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
  }

  function koa(): Koa1Application;
  export = koa;
}

declare module 'koa-convert' {
  type Modern = (ctx: any, next: () => Promise<unknown>) => Promise<unknown>;
  function convert(mw: (...args: any[]) => any): Modern;
  namespace convert {
    function back(mw: Modern): (this: any, next: Generator) => Generator;
  }
  export = convert;
}

declare module 'koa-generic-session-1' {
  function session(options?: Record<string, unknown>): (this: any, next: Generator) => Generator;
  namespace session {
    class MemoryStore {
      sessions: Record<string, any>;
      get(sid: string): Generator;
      set(sid: string, value: unknown): Generator;
      destroy(sid: string): Generator;
    }
  }
  export = session;
}

declare module 'koa-generic-session' {
  function session(options?: Record<string, unknown>): (ctx: any, next: () => Promise<unknown>) => Promise<void>;
  namespace session {
    class MemoryStore {
      sessions: Record<string, any>;
      get(sid: string): any;
      set(sid: string, value: unknown): void;
      destroy(sid: string): void;
    }
  }
  export = session;
}
