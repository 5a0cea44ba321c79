import type { Session } from './types.js';
import type { PrefixedStore } from './store/prefixed.js';

declare module 'koa' {
  interface ExtendableContext {
    /**
     * The session; `null` destroys it. In defer mode the getter returns a
     * promise: `const session = await ctx.session` works in both modes.
     */
    session: Session | null | undefined;
    /** The current session id, once the session is loaded. */
    sessionId: string | null | undefined;
    /** `true` forces a save at the end of the request, `false` forbids it. */
    sessionSave: boolean | null | undefined;
    /** The store, taking un-prefixed ids: `await ctx.sessionStore.get(sid)`. */
    sessionStore: PrefixedStore;
    /** Set when `degraded: true` served an empty, unsaved session because the store is unavailable. */
    sessionDegraded?: boolean;
    /** Destroys the current session and starts a new one with a new id. */
    regenerateSession(): Promise<Session>;
    /** Saves the session now, rather than when the request ends. */
    saveSession(): Promise<void>;
  }
}
