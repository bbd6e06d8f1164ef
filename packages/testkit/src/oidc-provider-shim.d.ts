// oidc-provider ships no type declarations and @types/oidc-provider is not installed; these are
// the few members the tests and the benchmark use.
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  /** The slice of a Koa context the request counter reads. */
  interface ProviderContext {
    readonly path: string;
    readonly method: string;
  }

  export class Provider {
    constructor(issuer: string, configuration?: Record<string, unknown>);
    readonly issuer: string;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    use(middleware: (ctx: ProviderContext, next: () => Promise<void>) => Promise<void>): void;
    on(event: string, listener: (...args: unknown[]) => void): this;
  }

  export const errors: { readonly InvalidTarget: new (description?: string) => Error };

  export default Provider;
}
