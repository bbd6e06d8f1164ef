/**
 * The SAML 2.0 service-provider backend: djangosaml2's pipeline on node-saml, failing closed.
 *
 * @packageDocumentation
 */
import {
  AuthBridgeError,
  type AuthBackend,
  encodeRelayStatePath,
  type ExternalIdentity,
  PermissionDenied,
  type StoredUser,
  type User,
  userFromStored,
  type UserProfile,
} from '@authbridge/core';
import { mapAttributes, type MappedAttributes } from './attribute-mapping.js';
import { SAML_URI } from './constants.js';
import { type IdpChoice, type IdpEntry, IdpRegistry } from './idp-registry.js';
import { mapSamlError } from './map-saml-error.js';
import {
  type ResolvedIdp,
  type ResolvedSamlOptions,
  resolveSamlOptions,
  type SamlBackendOptions,
} from './options.js';
import { protocolInvalid } from './protocol-error.js';
import {
  checkLogoutRequest,
  checkLogoutResponse,
  type LogoutExpectations,
} from './logout-messages.js';
import { assertSafeXml, decodePostMessage, decodeRedirectMessage } from './raw-message.js';
import { verifyRedirectQuery } from './redirect-binding.js';
import { SessionIndexStore } from './session-index.js';
import { buildSpMetadata } from './sp-metadata.js';
import { verifyPostLogout } from './post-logout.js';
import { isSafeRelayState, MAX_RELAY_STATE_BYTES } from './relay-state.js';
import { ReplayCache } from './replay-cache.js';
import { checkVerifiedResponse, type VerifiedAssertion } from './verified-response.js';
import { newSamlId, type VerifiedPost } from './verifying-saml.js';
import {
  logoutRequestXml,
  logoutResponseXml,
  postFields,
  signEnveloped,
} from './logout-post-binding.js';

const UNSPECIFIED_NAMEID = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

/**
 * A return path of ours as RelayState: node-saml signs the Redirect query as `querystring` encodes
 * it but sends it as `URLSearchParams` does, and the two differ on space ~ ! ' ( ), so those are
 * percent-encoded first (the same place for the browser). Both bindings get the same spelling.
 */
function ourRelayState(path: string | undefined): string | undefined {
  return path === undefined ? undefined : encodeRelayStatePath(path);
}

/** What the ACS passes to {@link SamlBackend.authenticate}. */
export interface SamlCredentials {
  /** The IdP id from the ACS path (`/saml/<idp>/acs`), never from the message. */
  readonly idp: string;
  /** The posted `SAMLResponse` (base64). */
  readonly samlResponse: string;
  /** The posted `RelayState`, if any (see {@link safeRelayState} before redirecting to it). */
  readonly relayState?: string | undefined;
}

/** The SAML session facts a login carries, for the session layer and Single Logout. */
export interface SamlSession {
  readonly idp: string;
  readonly issuer: string;
  readonly nameId: string | undefined;
  readonly nameIdFormat: string | undefined;
  /**
   * The NameID's NameQualifier and SPNameQualifier, sent back in our LogoutRequest so the IdP
   * matches the exact identifier it issued (SAML Profiles §4.4.4.1). Optional: sessions stored
   * before they were kept lack them.
   */
  readonly nameQualifier?: string | undefined;
  readonly spNameQualifier?: string | undefined;
  readonly sessionIndex: string | undefined;
  readonly authnInstant: number;
  readonly authnContextClassRef: string | undefined;
  /** When the local session must end: SessionNotOnOrAfter, capped by `maxSessionMs`. */
  readonly expiresAt: number;
  /**
   * The AuthnRequest this login answers; undefined for an IdP-initiated one. A route can check it
   * against the requests this browser started (login CSRF: a response captured by someone else).
   */
  readonly inResponseTo: string | undefined;
}

/** A user logged in through SAML. */
export interface SamlUser extends User {
  /** Present on users returned by `authenticate`; absent on users reloaded by `getUser`. */
  readonly saml?: SamlSession;
}

/** What an inbound logout message asked for. */
export type LogoutOutcome =
  | {
      /** The IdP answered our LogoutRequest (signed, by that IdP, to a request of ours). */
      readonly kind: 'logout-response';
      readonly relayState: string | undefined;
      /**
       * Whether the IdP reports Success. Otherwise (Responder, Requester, PartialLogout…) other
       * sessions may live on at the IdP or other SPs; ours ended when the request was sent.
       */
      readonly success: boolean;
      /** The top-level StatusCode Value. */
      readonly status: string | undefined;
    }
  | {
      /** The IdP asks us to end these local sessions, then to send the browser `response`. */
      readonly kind: 'logout-request';
      readonly nameId: string;
      readonly sessionIds: readonly string[];
      /**
       * Our signed LogoutResponse, in the IdP's `sloBinding`; undefined when the IdP has no
       * SingleLogoutService to answer at or the SP has no signing key (the sessions still end).
       */
      readonly response: OutboundMessage | undefined;
    };

/** A message for the IdP: a Redirect URL, or a form for the browser to post (HTTP-POST). */
export type OutboundMessage =
  | { readonly binding: 'redirect'; readonly url: string }
  | {
      readonly binding: 'post';
      /** Where the form posts to (the IdP's SingleLogoutService). */
      readonly url: string;
      /** `SAMLRequest` or `SAMLResponse` (base64, not deflated) and, when given, `RelayState`. */
      readonly fields: Readonly<Record<string, string>>;
    };

/** A LogoutRequest ready to send, in the IdP's `sloBinding`. */
export type LogoutRequest = OutboundMessage & { readonly requestId: string };

/** Options for {@link SamlBackend.createLoginRequest}. */
export interface LoginRequestOptions {
  /**
   * A same-origin path to return to after login: at most 80 bytes once space ~ ! ' ( ) are
   * percent-encoded (see `encodeRelayStatePath` in core).
   */
  readonly relayState?: string;
  /** Ask the IdP to authenticate again. Default the IdP's `forceAuthn`. */
  readonly forceAuthn?: boolean;
  /** Ask the IdP not to interact with the user. Default the IdP's `isPassive`. */
  readonly isPassive?: boolean;
}

/** An AuthnRequest ready to send. */
export type LoginRequest =
  | { readonly binding: 'redirect'; readonly url: string; readonly requestId: string }
  | {
      readonly binding: 'post';
      /** Where the form posts to (the IdP's SSO URL). */
      readonly url: string;
      /** Form fields: `SAMLRequest` and, when given, `RelayState`. */
      readonly fields: Readonly<Record<string, string>>;
      readonly requestId: string;
    };

/**
 * A SAML 2.0 service provider as an authbridge backend.
 *
 * `authenticate` runs djangosaml2's pipeline: decode and verify the response (node-saml, plus
 * every profile check node-saml leaves out, on the signed bytes only) → clean attributes →
 * authorize (one-time assertion and request IDs, AuthnContext policy, the `authorize` hook) → get
 * or create the local user by the IdP-scoped subject → update the mapped profile fields. Any
 * invalid response rejects with PROTOCOL_INVALID (or REPLAY_DETECTED), generic message, reason in
 * `detail`; a store outage rejects with the store's STORE_UNAVAILABLE.
 *
 * @example
 * ```ts
 * const saml = new SamlBackend({ users, replayStore, sp: { entityId, baseUrl }, idps: [{ id: 'corp', entityId, ssoUrl, signingCerts: [pem] }] });
 * const { url } = await saml.createLoginRequest('corp', { relayState: '/inbox' });
 * // ... the IdP posts back to https://app.example.com/saml/corp/acs
 * const user = await saml.authenticate(ctx, { idp: 'corp', samlResponse: body.SAMLResponse });
 * ```
 */
export class SamlBackend implements AuthBackend<SamlCredentials, SamlUser> {
  readonly id: string;
  readonly #options: ResolvedSamlOptions;
  readonly #registry: IdpRegistry;
  readonly #replay: ReplayCache;
  readonly #sessions: SessionIndexStore;
  #closed = false;

  /** @throws {AuthBridgeError} CONFIG_INVALID for any bad option */
  constructor(options: SamlBackendOptions) {
    this.#options = resolveSamlOptions(options);
    this.id = this.#options.id;
    this.#registry = new IdpRegistry(this.#options);
    this.#replay = new ReplayCache(this.#options.replayStore, `saml:${this.id}`);
    this.#sessions = new SessionIndexStore(
      this.#options.replayStore,
      `saml:${this.id}`,
      this.#options.clock,
    );
  }

  /**
   * Whether `credentials` are a SAML response for one of this backend's IdPs. Another backend's
   * IdP is not ours to judge: with several SAML backends in one Authenticator, claiming it here
   * would refuse it before its own backend is asked. A lookup in the configured IdPs, no I/O.
   */
  accepts(credentials: unknown): credentials is SamlCredentials {
    if (credentials === null || typeof credentials !== 'object') return false;
    const c = credentials as Record<string, unknown>;
    const idp = c['idp'];
    return (
      typeof idp === 'string' &&
      this.#registry.get(idp) !== undefined &&
      typeof c['samlResponse'] === 'string' &&
      (c['relayState'] === undefined || typeof c['relayState'] === 'string')
    );
  }

  async authenticate(_request: unknown, credentials: SamlCredentials): Promise<SamlUser | null> {
    this.#assertOpen();
    // Read each field once: what is checked must be what is verified, even for an object whose
    // properties are getters.
    const { idp: idpId, samlResponse, relayState } = credentials;
    const entry = this.#entry(idpId);
    const { idp } = entry;
    const options = this.#options;
    if (relayState !== undefined && Buffer.byteLength(relayState) > MAX_RELAY_STATE_BYTES) {
      throw protocolInvalid('RelayState longer than 80 bytes');
    }
    // 1. Bytes: size, encoding, no DTD, algorithm allow-list; only then any XML parser.
    const text = decodePostMessage(samlResponse, options);
    // 2. Signature and node-saml's checks; we keep the XML its verification produced.
    const verified = await this.#verify(entry, samlResponse, text);
    // 3. The profile rules node-saml leaves out, on those signed bytes.
    const now = options.clock.now();
    const assertion = checkVerifiedResponse(
      verified.verifiedXml,
      {
        acsUrl: idp.acsUrl,
        spEntityId: options.sp.entityId,
        idpEntityId: idp.entityId,
        now,
        skewMs: options.clockSkewMs,
        requireSignedResponse: idp.signing !== 'assertion',
      },
      verified.assertionXml,
    );
    // 4. Clean attributes.
    const mapped = mapAttributes(assertion.attributes, idp.attributes);
    const subject = this.#subject(idp, assertion);
    // 5. Authorize: replay first (so a replay is reported as one), then request and policy.
    await this.#authorize(entry, assertion, now);
    // 6. Get or create the local user by the IdP-scoped subject, 7. then update it.
    const identity: ExternalIdentity = { backendId: this.id, issuer: idp.entityId, subject };
    const stored = await this.#provision(identity, this.#profile(subject, mapped), mapped);
    if (stored === null || !stored.isActive) return null;
    return this.#samlUser(stored, idp, assertion, now);
  }

  async getUser(userId: string): Promise<SamlUser | null> {
    const stored = await this.#options.users.getById(userId);
    return stored?.isActive === true ? userFromStored(stored) : null;
  }

  /**
   * Builds an SP-initiated AuthnRequest for `idpId` (signed when configured) and records its ID,
   * which the response must answer within `requestTtlMs`, once.
   *
   * @throws {AuthBridgeError} INVALID_REQUEST for an unknown IdP or an unsafe `relayState`
   */
  async createLoginRequest(
    idpId: string,
    options: LoginRequestOptions = {},
  ): Promise<LoginRequest> {
    this.#assertOpen();
    const entry = this.#registry.get(idpId);
    if (entry === undefined)
      throw new AuthBridgeError('INVALID_REQUEST', 'Unknown identity provider');
    const relayState = ourRelayState(options.relayState);
    if (relayState !== undefined && !isSafeRelayState(relayState)) {
      throw new AuthBridgeError('INVALID_REQUEST', 'relayState must be a same-origin path');
    }
    const flags = {
      forceAuthn: options.forceAuthn ?? entry.idp.forceAuthn,
      isPassive: options.isPassive ?? entry.idp.isPassive,
    };
    const saml = entry.instance(flags);
    const issuedAt = this.#options.clock.now();
    let result: LoginRequest;
    if (entry.idp.authnRequestBinding === 'post') {
      const { message, requestId } = await saml.issue(() =>
        saml.getAuthorizeMessageAsync(relayState ?? '', undefined, {}),
      );
      const fields = Object.create(null) as Record<string, string>;
      for (const [k, v] of Object.entries(message)) if (typeof v === 'string') fields[k] = v;
      result = { binding: 'post', url: entry.idp.ssoUrl, fields: Object.freeze(fields), requestId };
    } else {
      const { message, requestId } = await saml.issue(() =>
        saml.getAuthorizeUrlAsync(relayState ?? '', undefined, {}),
      );
      result = { binding: 'redirect', url: message, requestId };
    }
    await this.#replay.rememberRequest(
      'req',
      entry.idp.id,
      result.requestId,
      { issuedAt, forceAuthn: flags.forceAuthn },
      this.#options.requestTtlMs,
    );
    return result;
  }

  /**
   * Remembers that `localSessionId` is the local session of a SAML login, so an IdP-initiated
   * LogoutRequest naming its NameID (and SessionIndex) ends it. Call it when the session starts.
   */
  async recordSession(session: SamlSession, localSessionId: string): Promise<void> {
    this.#assertOpen();
    if (session.nameId === undefined) return;
    await this.#sessions.add(
      { idp: session.idp, nameId: session.nameId, sessionIndex: session.sessionIndex },
      localSessionId,
      session.expiresAt - this.#options.clock.now(),
    );
  }

  /**
   * Builds an SP-initiated LogoutRequest (in the IdP's `sloBinding`, signed with the SP key) for
   * a SAML session and records its ID for the LogoutResponse. Without an SP signing key there is
   * no Single Logout toward the IdP: the front-channel bindings require a signed LogoutRequest
   * (SAML Profiles §4.4.4.1), so the caller logs out locally only.
   *
   * @throws {AuthBridgeError} INVALID_REQUEST for an unknown IdP, one without an SLO endpoint,
   *   an SP without a signing key, a session without NameID, or an unsafe `relayState`
   */
  async createLogoutRequest(
    session: SamlSession,
    options: { readonly relayState?: string } = {},
  ): Promise<LogoutRequest> {
    this.#assertOpen();
    const entry = this.#registry.get(session.idp);
    const sloUrl = entry?.idp.sloUrl;
    if (
      entry === undefined ||
      sloUrl === undefined ||
      session.nameId === undefined ||
      !this.#canSign()
    ) {
      throw new AuthBridgeError('INVALID_REQUEST', 'No single logout for this session');
    }
    const relayState = ourRelayState(options.relayState);
    if (relayState !== undefined && !isSafeRelayState(relayState)) {
      throw new AuthBridgeError('INVALID_REQUEST', 'relayState must be a same-origin path');
    }
    const saml = entry.logout;
    const profile = {
      issuer: entry.idp.entityId,
      nameID: session.nameId,
      nameIDFormat: session.nameIdFormat ?? UNSPECIFIED_NAMEID,
      ...(session.nameQualifier === undefined ? {} : { nameQualifier: session.nameQualifier }),
      ...(session.spNameQualifier === undefined
        ? {}
        : { spNameQualifier: session.spNameQualifier }),
      ...(session.sessionIndex === undefined ? {} : { sessionIndex: session.sessionIndex }),
    };
    const issuedAt = this.#options.clock.now();
    let result: LogoutRequest;
    if (entry.idp.sloBinding === 'post') {
      const requestId = newSamlId();
      const xml = logoutRequestXml({
        id: requestId,
        issueInstant: new Date(issuedAt),
        destination: sloUrl,
        issuer: this.#options.sp.entityId,
        nameId: session.nameId,
        nameIdFormat: profile.nameIDFormat,
        nameQualifier: session.nameQualifier,
        spNameQualifier: session.spNameQualifier,
        sessionIndex: session.sessionIndex,
      });
      const fields = postFields('SAMLRequest', this.#signed(xml), relayState);
      result = { binding: 'post', url: sloUrl, fields, requestId };
    } else {
      const { message, requestId } = await saml.issue(() =>
        saml.getLogoutUrlAsync(profile, relayState ?? '', {}),
      );
      result = { binding: 'redirect', url: message, requestId };
    }
    await this.#replay.rememberRequest(
      'logout-req',
      entry.idp.id,
      result.requestId,
      { issuedAt, forceAuthn: false },
      this.#options.requestTtlMs,
    );
    return result;
  }

  /** Whether the SP has a key to sign outbound logout messages with. */
  #canSign(): boolean {
    const { signingKey, signingCerts } = this.#options.sp;
    return signingKey !== undefined && signingCerts[0] !== undefined;
  }

  /** `xml` with an enveloped signature by the current SP key, or as is without a key. */
  #signed(xml: string): string {
    const { signingKey, signingCerts } = this.#options.sp;
    const [certificate] = signingCerts;
    return signingKey === undefined || certificate === undefined
      ? xml
      : signEnveloped(xml, { privateKey: signingKey, certificate });
  }

  /**
   * Handles a logout message arriving by HTTP-Redirect at our SLO URL for `idpId`. `rawQuery` is
   * the query string exactly as received (the signature covers its encoded bytes). The message
   * must be signed by a pinned IdP key.
   *
   * @throws {AuthBridgeError} PROTOCOL_INVALID, REPLAY_DETECTED, STORE_UNAVAILABLE
   */
  async handleLogoutRedirect(idpId: string, rawQuery: string): Promise<LogoutOutcome> {
    this.#assertOpen();
    const entry = this.#entry(idpId);
    const message = verifyRedirectQuery(
      rawQuery,
      entry.idp.signingCerts(),
      Math.ceil(this.#options.maxMessageBytes / 3) * 4 + 4096,
    );
    const xml = decodeRedirectMessage(message.message, this.#options);
    return message.kind === 'SAMLResponse'
      ? this.#logoutResponse(entry, xml, message.relayState)
      : this.#logoutRequest(entry, xml, message.relayState);
  }

  /**
   * Handles a logout message arriving by HTTP-POST: it must carry an enveloped signature by a
   * pinned IdP key (checked by node-saml), and only the signed bytes are read.
   *
   * @throws {AuthBridgeError} PROTOCOL_INVALID, REPLAY_DETECTED, STORE_UNAVAILABLE
   */
  async handleLogoutPost(
    idpId: string,
    body: {
      readonly SAMLRequest?: unknown;
      readonly SAMLResponse?: unknown;
      readonly RelayState?: unknown;
    },
  ): Promise<LogoutOutcome> {
    this.#assertOpen();
    const entry = this.#entry(idpId);
    const { SAMLRequest: request, SAMLResponse: response, RelayState: relay } = body;
    if ((request === undefined) === (response === undefined)) {
      throw protocolInvalid('need exactly one of SAMLRequest and SAMLResponse');
    }
    const relayState = typeof relay === 'string' ? relay : undefined;
    const raw = decodePostMessage(request ?? response, this.#options);
    const signed = await verifyPostLogout(raw, entry.idp.signingCerts());
    return response === undefined
      ? this.#logoutRequest(entry, signed, relayState)
      : this.#logoutResponse(entry, signed, relayState);
  }

  #logoutExpectations(idp: ResolvedIdp): LogoutExpectations {
    return {
      idpEntityId: idp.entityId,
      sloUrl: idp.spSloUrl,
      now: this.#options.clock.now(),
      skewMs: this.#options.clockSkewMs,
      maxAgeMs: this.#options.requestTtlMs,
    };
  }

  async #logoutResponse(
    entry: IdpEntry,
    xml: string,
    relayState: string | undefined,
  ): Promise<LogoutOutcome> {
    const response = checkLogoutResponse(xml, this.#logoutExpectations(entry.idp));
    await this.#replay.consumeRequest('logout-req', entry.idp.id, response.inResponseTo);
    // A failure status is still a genuine answer to our request: the local session ended when the
    // request was sent, so the caller finishes the logout as usual and reports the status.
    return {
      kind: 'logout-response',
      relayState,
      success: response.success,
      status: response.status,
    };
  }

  async #logoutRequest(
    entry: IdpEntry,
    xml: string,
    relayState: string | undefined,
  ): Promise<LogoutOutcome> {
    const { idp } = entry;
    const expect = this.#logoutExpectations(idp);
    const request = checkLogoutRequest(xml, expect);
    await this.#replay.useOnce(
      'logout',
      idp.entityId,
      request.id,
      request.validUntil + expect.skewMs - expect.now,
    );
    // A verified logout ends the local sessions whether or not it can be answered: refusing it
    // for want of an endpoint would leave sessions alive that the IdP believes ended.
    const sessionIds = await this.#sessions.take(idp.id, request.nameId, request.sessionIndexes);
    // Our LogoutResponse must be signed (SAML Profiles §4.4.4.2): without a key, no answer.
    const sloUrl = this.#canSign() ? idp.sloResponseUrl : undefined;
    if (sloUrl === undefined) {
      return { kind: 'logout-request', nameId: request.nameId, sessionIds, response: undefined };
    }
    if (idp.sloBinding === 'post') {
      const xml = logoutResponseXml({
        id: newSamlId(),
        issueInstant: new Date(this.#options.clock.now()),
        destination: sloUrl,
        issuer: this.#options.sp.entityId,
        inResponseTo: request.id,
      });
      // The IdP's RelayState goes back verbatim (Bindings §3.5.3), as for Redirect below.
      const fields = postFields('SAMLResponse', this.#signed(xml), relayState);
      const response: OutboundMessage = { binding: 'post', url: sloUrl, fields };
      return { kind: 'logout-request', nameId: request.nameId, sessionIds, response };
    }
    const saml = entry.logoutResponder;
    const responseUrl = await saml.getLogoutResponseUrlAsync(
      {
        ID: request.id,
        issuer: idp.entityId,
        nameID: request.nameId,
        nameIDFormat: request.nameIdFormat ?? UNSPECIFIED_NAMEID,
      },
      // The IdP's RelayState goes back to the IdP verbatim (Bindings §3.4.3): it is the IdP's
      // state, not a place we send the browser, so the same-origin rule does not apply.
      relayState ?? '',
      {},
      true,
    );
    const response: OutboundMessage = { binding: 'redirect', url: responseUrl };
    return { kind: 'logout-request', nameId: request.nameId, sessionIds, response };
  }

  /**
   * Our SP metadata, every published signing certificate (rollover) included, signed with our key
   * when `sign` is set. With `idp`, the document that IdP is given: only its own ACS and SLO URLs.
   * An IdP picks our endpoints from our metadata for what it starts itself (its LogoutRequests
   * and LogoutResponses, unsolicited responses); shown every IdP's, it takes the first or the
   * default — another IdP's, where its messages are refused. Without `idp`, every IdP's, in
   * configuration order (for an SP with one IdP, or a federation's aggregate).
   *
   * @throws {AuthBridgeError} INVALID_REQUEST when asked to sign without an SP key; NOT_FOUND for
   * an IdP that is not configured here.
   */
  spMetadata(
    options: { readonly sign?: boolean; readonly validUntil?: Date; readonly idp?: string } = {},
  ): string {
    const { sp, idps } = this.#options;
    if (options.sign === true && sp.signingKey === undefined) {
      throw new AuthBridgeError('INVALID_REQUEST', 'Signing metadata needs sp.signingKey');
    }
    let all = [...idps.values()];
    if (options.idp !== undefined) {
      const one = idps.get(options.idp);
      if (one === undefined) throw new AuthBridgeError('NOT_FOUND', 'Unknown identity provider');
      all = [one];
    }
    return buildSpMetadata({
      entityId: sp.entityId,
      endpoints: all.map((idp) => ({ acsUrl: idp.acsUrl, sloUrl: idp.spSloUrl })),
      signingCerts: sp.signingCerts,
      encryptionCerts: sp.decryptionKeys.map((k) => k.certificate),
      authnRequestsSigned: all.some((idp) => idp.signAuthnRequests),
      nameIdFormats: [
        ...new Set(all.flatMap((idp) => (idp.nameIdFormat === null ? [] : [idp.nameIdFormat]))),
      ],
      signingKey: options.sign === true ? sp.signingKey : undefined,
      validUntil: options.validUntil,
    });
  }

  /**
   * The IdPs with a Single Logout URL that this SP cannot use: logout messages must be signed
   * (SAML Profiles §4.4.4) and there is no SP signing key, so logout toward them stays local. For
   * a start-up warning.
   */
  idpsWithoutSlo(): readonly string[] {
    if (this.#canSign()) return [];
    return [...this.#options.idps.values()]
      .filter((idp) => idp.sloUrl !== undefined)
      .map((idp) => idp.id);
  }

  /** The IdPs, for a chooser page. */
  listIdps(): readonly IdpChoice[] {
    return this.#registry.list();
  }

  /** The IdP that serves `email`'s domain, when exactly one does. */
  idpForEmail(email: string): IdpChoice | undefined {
    return this.#registry.forEmail(email);
  }

  /** The ACS URL configured for `idpId`. */
  acsUrl(idpId: string): string | undefined {
    return this.#registry.get(idpId)?.idp.acsUrl;
  }

  async close(): Promise<void> {
    // Stores belong to the caller, who may share them; node-saml instances hold no resources.
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new AuthBridgeError('CLOSED', 'SamlBackend is closed');
  }

  #entry(idpId: string): IdpEntry {
    const entry = this.#registry.get(idpId);
    if (entry === undefined) throw protocolInvalid(`unknown IdP ${idpId}`);
    return entry;
  }

  async #verify(entry: IdpEntry, samlResponse: string, text: string): Promise<VerifiedPost> {
    // Only an encrypted response is worth a second key: anything else fails the same way.
    const encrypted = text.includes('EncryptedAssertion');
    const instances = encrypted ? entry.decrypting : [entry.saml];
    let first: unknown;
    for (const saml of instances) {
      let verified: VerifiedPost;
      try {
        verified = await saml.verifyPost(samlResponse);
      } catch (error) {
        first ??= error;
        continue;
      }
      // A decrypted assertion was never seen by the byte-level checks: its own signature's
      // algorithms (and any DTD) are checked now, before anything reads it, under every signing
      // policy. The plaintext is checked as decrypted: when only the assertion is signed, the
      // verified bytes no longer hold its Signature, and so neither its algorithms.
      if (encrypted) {
        for (const xml of [verified.assertionXml, verified.decryptedXml]) {
          if (xml !== undefined) assertSafeXml(Buffer.from(xml, 'utf8'));
        }
      }
      return verified;
    }
    // The current key's failure is reported: one uniform error whichever key failed how.
    throw mapSamlError(first);
  }

  #subject(idp: ResolvedIdp, assertion: VerifiedAssertion): string {
    if (idp.subjectAttribute !== undefined) {
      const attr = assertion.attributes.get(idp.subjectAttribute);
      const [value] = attr?.values ?? [];
      if (attr === undefined || attr.complex || attr.values.length !== 1 || !value) {
        throw protocolInvalid(`subject attribute ${idp.subjectAttribute} needs exactly one value`);
      }
      return value;
    }
    if (assertion.nameId === undefined) throw protocolInvalid('assertion has no NameID');
    // A transient NameID changes on every login: linking by it would make a new user each time.
    if (assertion.nameIdFormat === SAML_URI.nameIdTransient) {
      throw protocolInvalid('transient NameID cannot identify a user; set subjectAttribute');
    }
    return assertion.nameId;
  }

  async #authorize(entry: IdpEntry, assertion: VerifiedAssertion, now: number): Promise<void> {
    const { idp } = entry;
    const options = this.#options;
    await this.#replay.useOnce(
      'assertion',
      idp.entityId,
      assertion.assertionId,
      assertion.validUntil + options.clockSkewMs - now,
    );
    if (assertion.inResponseTo === undefined) {
      if (!idp.allowIdpInitiated)
        throw protocolInvalid('unsolicited response and IdP-initiated SSO is off');
    } else {
      const pending = await this.#replay.consumeRequest('req', idp.id, assertion.inResponseTo);
      if (pending.forceAuthn) {
        // ForceAuthn: the user must have authenticated after our request, and recently.
        if (
          assertion.authnInstant < pending.issuedAt - options.clockSkewMs ||
          now - assertion.authnInstant > options.maxAuthnAgeMs
        ) {
          throw protocolInvalid('AuthnInstant too old for ForceAuthn');
        }
      }
    }
    if (
      idp.requiredAuthnContext !== undefined &&
      (assertion.authnContextClassRef === undefined ||
        !idp.requiredAuthnContext.includes(assertion.authnContextClassRef))
    ) {
      throw protocolInvalid(
        `AuthnContextClassRef ${String(assertion.authnContextClassRef)} not allowed`,
      );
    }
    if (
      options.authorize !== undefined &&
      !(await options.authorize({ idpId: idp.id, assertion }))
    ) {
      throw new PermissionDenied(undefined, { detail: `authorize hook refused ${idp.id}` });
    }
  }

  #profile(subject: string, mapped: MappedAttributes): UserProfile {
    return {
      username: mapped.username ?? subject,
      email: mapped.email ?? undefined,
      displayName: mapped.displayName ?? undefined,
      groups: mapped.groups,
      attributes: { ...mapped.extra },
    };
  }

  async #provision(
    identity: ExternalIdentity,
    profile: UserProfile,
    mapped: MappedAttributes,
  ): Promise<StoredUser | null> {
    const { users, create, update } = this.#options;
    const result = await users.provision(identity, profile, { create, update: 'never' });
    if (result === null) return null;
    if (result.created || update === 'never') return result.user;
    // The update step touches only fields the mapping produced; local grants stay.
    const patch: Record<string, unknown> = {};
    const current = result.user as unknown as Record<string, unknown>;
    for (const [key, value] of Object.entries(profile)) {
      if (value === undefined) continue;
      if (JSON.stringify(current[key]) !== JSON.stringify(value)) patch[key] = value;
    }
    // An attribute sent without a value clears the field. A patch leaves out what is undefined,
    // so the clearing is written as null, which the stores' normalizeProfile reads as no value.
    for (const key of ['email', 'displayName'] as const) {
      if (mapped[key] === null && current[key] !== undefined) patch[key] = null;
    }
    return Object.keys(patch).length === 0 ? result.user : users.update(result.user.id, patch);
  }

  #samlUser(
    stored: StoredUser,
    idp: ResolvedIdp,
    assertion: VerifiedAssertion,
    now: number,
  ): SamlUser {
    const cap = now + this.#options.maxSessionMs;
    const session: SamlSession = Object.freeze({
      idp: idp.id,
      issuer: idp.entityId,
      nameId: assertion.nameId,
      nameIdFormat: assertion.nameIdFormat,
      nameQualifier: assertion.nameQualifier,
      spNameQualifier: assertion.spNameQualifier,
      sessionIndex: assertion.sessionIndex,
      authnInstant: assertion.authnInstant,
      authnContextClassRef: assertion.authnContextClassRef,
      expiresAt: Math.min(cap, assertion.sessionNotOnOrAfter ?? cap),
      inResponseTo: assertion.inResponseTo,
    });
    return Object.freeze({ ...userFromStored(stored), saml: session });
  }
}
