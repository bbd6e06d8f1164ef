/**
 * The IdPs one backend serves, keyed by id, each with its cached node-saml instances (never one
 * per request: a per-request instance loses its state and costs a rebuild every time).
 *
 * @packageDocumentation
 */
import { type CacheProvider, type SamlConfig, ValidateInResponseTo } from '@node-saml/node-saml';
import type { ResolvedIdp, ResolvedSamlOptions } from './options.js';
import { VerifyingSaml } from './verifying-saml.js';

/** What an IdP chooser shows. */
export interface IdpChoice {
  readonly id: string;
  readonly displayName: string;
  readonly entityId: string;
}

// node-saml's cache is unused: we keep request IDs in the replay store ourselves. A no-op
// provider also avoids the default in-memory one's timer.
const NO_CACHE: CacheProvider = {
  saveAsync: async () => null,
  getAsync: async () => null,
  removeAsync: async () => null,
};

/** Per-request AuthnRequest flags; each combination gets one cached instance. */
export interface RequestFlags {
  readonly forceAuthn: boolean;
  readonly isPassive: boolean;
}

/** One IdP and its node-saml instances. */
export class IdpEntry {
  readonly idp: ResolvedIdp;
  readonly #options: ResolvedSamlOptions;
  readonly #instances = new Map<string, VerifyingSaml>();
  #logout: VerifyingSaml | undefined;
  #logoutResponder: VerifyingSaml | undefined;
  #decrypting: readonly VerifyingSaml[] | undefined;

  constructor(idp: ResolvedIdp, options: ResolvedSamlOptions) {
    this.idp = idp;
    this.#options = options;
  }

  /** The instance that validates responses (and issues requests with the IdP's defaults). */
  get saml(): VerifyingSaml {
    return this.instance({ forceAuthn: this.idp.forceAuthn, isPassive: this.idp.isPassive });
  }

  /**
   * Validating instances, one per SP decryption key (node-saml takes a single key): an
   * EncryptedAssertion is tried with each, current key first. At least one instance.
   */
  get decrypting(): readonly VerifyingSaml[] {
    if (this.#decrypting === undefined) {
      const keys = this.#options.sp.decryptionKeys;
      this.#decrypting =
        keys.length <= 1
          ? [this.saml]
          : keys.map(
              (k) =>
                new VerifyingSaml({
                  ...this.#config({ forceAuthn: false, isPassive: false }),
                  decryptionPvk: k.privateKey,
                }),
            );
    }
    return this.#decrypting;
  }

  /** The instance issuing AuthnRequests with these flags. */
  instance(flags: RequestFlags): VerifyingSaml {
    const key = `${String(flags.forceAuthn)}:${String(flags.isPassive)}`;
    let saml = this.#instances.get(key);
    if (saml === undefined) {
      saml = new VerifyingSaml(this.#config(flags));
      this.#instances.set(key, saml);
    }
    return saml;
  }

  /**
   * The instance issuing logout messages: signed whenever the SP has a key (ADFS and others
   * refuse unsigned logout), whatever the AuthnRequest setting.
   */
  get logout(): VerifyingSaml {
    this.#logout ??= new VerifyingSaml(this.#config({ forceAuthn: false, isPassive: false }, true));
    return this.#logout;
  }

  /**
   * The instance issuing our LogoutResponses over Redirect: as {@link IdpEntry.logout}, but
   * addressed to the IdP's response location when it has its own.
   */
  get logoutResponder(): VerifyingSaml {
    if (this.idp.sloResponseUrl === this.idp.sloUrl) return this.logout;
    this.#logoutResponder ??= new VerifyingSaml({
      ...this.#config({ forceAuthn: false, isPassive: false }, true),
      // Set here: sloResponseUrl differs from sloUrl, so both are configured.
      logoutUrl: this.idp.sloResponseUrl,
    });
    return this.#logoutResponder;
  }

  #config(flags: RequestFlags, forLogout = false): SamlConfig {
    const { idp } = this;
    const { sp } = this.#options;
    const [currentCert] = sp.signingCerts;
    const signing =
      (forLogout || idp.signAuthnRequests) &&
      sp.signingKey !== undefined &&
      currentCert !== undefined
        ? { privateKey: sp.signingKey, publicCert: currentCert }
        : {};
    return {
      callbackUrl: idp.acsUrl,
      entryPoint: idp.ssoUrl,
      issuer: sp.entityId,
      audience: sp.entityId,
      // A callback, so a metadata-driven certificate set is read on every validation.
      idpCert: (callback) => {
        try {
          callback(null, [...idp.signingCerts()]);
        } catch (error) {
          callback(error as Error);
        }
      },
      idpIssuer: idp.entityId,
      wantAssertionsSigned: idp.signing !== 'response',
      wantAuthnResponseSigned: idp.signing !== 'assertion',
      acceptedClockSkewMs: this.#options.clockSkewMs,
      // InResponseTo is checked by us, atomically, against the replay store.
      validateInResponseTo: ValidateInResponseTo.never,
      cacheProvider: NO_CACHE,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
      identifierFormat: idp.nameIdFormat,
      forceAuthn: flags.forceAuthn,
      passive: flags.isPassive,
      disableRequestedAuthnContext: idp.requestedAuthnContext.length === 0,
      authnContext: [...idp.requestedAuthnContext],
      racComparison: idp.authnContextComparison,
      authnRequestBinding: idp.authnRequestBinding === 'post' ? 'HTTP-POST' : 'HTTP-Redirect',
      // The POST binding carries plain base64; only the Redirect binding deflates.
      skipRequestCompression: idp.authnRequestBinding === 'post',
      ...(idp.sloUrl === undefined ? {} : { logoutUrl: idp.sloUrl }),
      logoutCallbackUrl: idp.spSloUrl,
      ...(sp.decryptionKeys[0] === undefined
        ? {}
        : { decryptionPvk: sp.decryptionKeys[0].privateKey }),
      ...signing,
    };
  }
}

/** Every IdP of a backend. */
export class IdpRegistry {
  readonly #entries: ReadonlyMap<string, IdpEntry>;

  constructor(options: ResolvedSamlOptions) {
    this.#entries = new Map([...options.idps].map(([id, idp]) => [id, new IdpEntry(idp, options)]));
  }

  /** The entry for `id`; `undefined` for an unknown id (never an inherited property). */
  get(id: string): IdpEntry | undefined {
    return this.#entries.get(id);
  }

  /** The IdPs for a chooser, in configuration order. */
  list(): readonly IdpChoice[] {
    return [...this.#entries.values()].map(({ idp }) => ({
      id: idp.id,
      displayName: idp.displayName,
      entityId: idp.entityId,
    }));
  }

  /** The IdP serving an e-mail address's domain, if exactly one claims it. */
  forEmail(email: string): IdpChoice | undefined {
    const at = email.lastIndexOf('@');
    if (at < 0) return undefined;
    const domain = email
      .slice(at + 1)
      .trim()
      .toLowerCase();
    const matches = [...this.#entries.values()].filter(({ idp }) =>
      idp.emailDomains.includes(domain),
    );
    const [only] = matches;
    return matches.length === 1 && only !== undefined
      ? { id: only.idp.id, displayName: only.idp.displayName, entityId: only.idp.entityId }
      : undefined;
  }
}
