// The README's custom-backend example. scripts/check-readme.mjs keeps the README copy identical to
// the block between the snippet markers, and api-key-backend.test.ts runs it.
// snippet:custom-backend {
import { createHash, timingSafeEqual } from 'node:crypto';
import { type AuthBackend, createUser, PermissionDenied, type User } from '@authbridge/core';

interface ApiKeyCredentials {
  readonly apiKey: string;
}

/** Service accounts that log in with a static API key (stored as SHA-256, compared in constant time). */
export class ApiKeyBackend implements AuthBackend<ApiKeyCredentials> {
  readonly id = 'api-key';
  readonly #accounts: ReadonlyMap<string, { digest: Buffer; user: User; revoked: boolean }>;

  constructor(accounts: readonly { name: string; keySha256: string; revoked?: boolean }[]) {
    this.#accounts = new Map(
      accounts.map((a) => [
        a.name,
        {
          digest: Buffer.from(a.keySha256, 'hex'),
          user: createUser({ id: a.name, username: a.name }),
          revoked: a.revoked ?? false,
        },
      ]),
    );
  }

  accepts(credentials: unknown): credentials is ApiKeyCredentials {
    return typeof (credentials as Partial<ApiKeyCredentials> | null)?.apiKey === 'string';
  }

  async authenticate(_request: unknown, { apiKey }: ApiKeyCredentials): Promise<User | null> {
    const [name = '', secret = ''] = apiKey.split('.', 2); // "<account>.<secret>"
    const account = this.#accounts.get(name);
    const digest = createHash('sha256').update(secret).digest();
    if (!account || !timingSafeEqual(digest, account.digest)) return null; // no opinion: next backend
    if (account.revoked) throw new PermissionDenied(); // veto: no later backend may log this key in
    return account.user;
  }

  async getUser(userId: string): Promise<User | null> {
    const account = this.#accounts.get(userId);
    return account && !account.revoked ? account.user : null;
  }

  async getAllPermissions(user: {
    isAuthenticated: boolean;
    id: string | null;
  }): Promise<ReadonlySet<string>> {
    return new Set(user.isAuthenticated && user.id === 'ci-bot' ? ['builds.trigger'] : []);
  }

  async close(): Promise<void> {}
}
// }
