// Scripted backends for the chain's pure logic. Real backends run against real servers elsewhere.
import {
  type AnyUser,
  type AuthBackend,
  createUser,
  PermissionDenied,
  type User,
} from '@authbridge/core';

export interface ScriptedOptions {
  id: string;
  accepts?: (c: unknown) => boolean;
  result?: User | null | 'deny' | Error;
  users?: Record<string, User>;
  perms?: (user: AnyUser, obj?: unknown) => ReadonlySet<string> | 'deny';
  hasPerm?: (user: AnyUser, perm: string, obj?: unknown) => boolean | 'deny';
}

export interface Scripted extends AuthBackend {
  calls: string[];
}

export function scripted(o: ScriptedOptions): Scripted {
  const calls: string[] = [];
  const backend: Scripted = {
    id: o.id,
    calls,
    accepts: (c): c is unknown => (o.accepts ? o.accepts(c) : true),
    authenticate: async () => {
      calls.push('authenticate');
      const r = o.result ?? null;
      if (r === 'deny') throw new PermissionDenied();
      if (r instanceof Error) throw r;
      return r;
    },
    getUser: async (id) => {
      calls.push(`getUser:${id}`);
      return o.users?.[id] ?? null;
    },
    close: async () => {
      calls.push('close');
    },
  };
  if (o.perms) {
    const perms = o.perms;
    backend.getAllPermissions = async (user, obj) => {
      calls.push('getAllPermissions');
      const r = perms(user, obj);
      if (r === 'deny') throw new PermissionDenied();
      return r;
    };
  }
  if (o.hasPerm) {
    const hasPerm = o.hasPerm;
    backend.hasPerm = async (user, perm, obj) => {
      calls.push(`hasPerm:${perm}`);
      const r = hasPerm(user, perm, obj);
      if (r === 'deny') throw new PermissionDenied();
      return r;
    };
  }
  return backend;
}

export const alice = createUser({ id: 'u1', username: 'alice' });
export const root = createUser({ id: 'u0', username: 'root', isSuperuser: true, isStaff: true });
export const inactiveRoot = createUser({
  id: 'u9',
  username: 'ghost',
  isSuperuser: true,
  isActive: false,
});
