/**
 * IdP metadata that stays current: loaded from a file or URL, refreshed in the background at the
 * pace cacheDuration asks for, the last good copy kept when a refresh fails, and nothing trusted
 * once validUntil has passed. Its `signingCerts` is what an IdP's `signingCerts` option takes, so
 * a key rollover published in metadata reaches signature checks on the next refresh.
 *
 * @packageDocumentation
 */
import { readFile } from 'node:fs/promises';
import { AuthBridgeError, type Clock, systemClock } from '@authbridge/core';
import { type IdpMetadata, parseIdpMetadata } from './idp-metadata.js';
import { fetchMetadata, type MetadataFetchOptions } from './metadata-fetch.js';
import type { SamlIdpOptions } from './options.js';

/** Options for {@link IdpMetadataSource}. */
export interface IdpMetadataSourceOptions extends MetadataFetchOptions {
  /** An https URL (see {@link MetadataFetchOptions} for the guards); or use `file`. */
  readonly url?: string;
  /** A local file. */
  readonly file?: string;
  /** The IdP's entityID (selects it from an aggregate, and must match). */
  readonly entityId: string;
  /** Pinned keys of the metadata signer; when given, unsigned or wrongly signed metadata is refused. */
  readonly signingCerts?: readonly string[];
  /** Refuse metadata without validUntil. Default false. */
  readonly requireValidUntil?: boolean;
  /** Refresh interval when metadata gives no cacheDuration. Default 1 hour. */
  readonly refreshIntervalMs?: number;
  /** Bounds for the refresh interval. Default 1 minute and 24 hours. */
  readonly minRefreshMs?: number;
  readonly maxRefreshMs?: number;
  readonly clock?: Clock;
  /** Called with each failed refresh (the last good copy stays in use). */
  readonly onRefreshError?: (error: unknown) => void;
}

/** Metadata for one IdP, kept fresh. Create it with {@link IdpMetadataSource.load}. */
export class IdpMetadataSource {
  readonly #options: IdpMetadataSourceOptions;
  readonly #clock: Clock;
  #current: IdpMetadata;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  /** The error of the last refresh, undefined after a successful one. */
  lastError: unknown;

  private constructor(options: IdpMetadataSourceOptions, first: IdpMetadata) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#current = first;
  }

  /**
   * Loads metadata once (this first load must succeed) and returns the source; call `start()` to
   * refresh it in the background.
   *
   * @throws {AuthBridgeError} CONFIG_INVALID, PROTOCOL_INVALID, BACKEND_UNAVAILABLE, BACKEND_TIMEOUT
   */
  static async load(options: IdpMetadataSourceOptions): Promise<IdpMetadataSource> {
    if ((options.url === undefined) === (options.file === undefined)) {
      throw new AuthBridgeError('CONFIG_INVALID', 'metadata needs exactly one of url and file');
    }
    return new IdpMetadataSource(options, await IdpMetadataSource.#read(options));
  }

  static async #read(options: IdpMetadataSourceOptions): Promise<IdpMetadata> {
    const xml =
      options.file === undefined
        ? await fetchMetadata(options.url ?? '', options)
        : await readFile(options.file, 'utf8');
    if (Buffer.byteLength(xml) > (options.maxBytes ?? 1024 * 1024)) {
      throw new AuthBridgeError('PROTOCOL_INVALID', undefined, { detail: 'metadata too large' });
    }
    return parseIdpMetadata(xml, {
      entityId: options.entityId,
      ...(options.signingCerts === undefined ? {} : { signingCerts: options.signingCerts }),
      ...(options.requireValidUntil === undefined
        ? {}
        : { requireValidUntil: options.requireValidUntil }),
      now: (options.clock ?? systemClock).now(),
    });
  }

  /** The last good metadata. */
  get current(): IdpMetadata {
    return this.#current;
  }

  /** Whether the last good copy is still usable (validUntil not passed). */
  get valid(): boolean {
    const { validUntil } = this.#current;
    return validUntil === undefined || this.#clock.now() < validUntil;
  }

  /**
   * The IdP's current signing certificates: empty once validUntil has passed without a good
   * refresh, so every response is refused rather than checked against stale keys.
   */
  signingCerts(): readonly string[] {
    return this.valid ? this.#current.signingCerts : [];
  }

  /** Fetches and parses again; on failure keeps the last good copy and records the error. */
  async refresh(): Promise<boolean> {
    try {
      this.#current = await IdpMetadataSource.#read(this.#options);
      this.lastError = undefined;
      return true;
    } catch (error) {
      this.lastError = error;
      this.#options.onRefreshError?.(error);
      return false;
    }
  }

  /** The delay before the next refresh: cacheDuration (or the default), within bounds. */
  nextRefreshMs(): number {
    const min = this.#options.minRefreshMs ?? 60_000;
    const max = this.#options.maxRefreshMs ?? 86_400_000;
    let delay = this.#current.cacheDurationMs ?? this.#options.refreshIntervalMs ?? 3_600_000;
    const { validUntil } = this.#current;
    // Refresh well before validUntil, so one failure does not leave us with nothing.
    if (validUntil !== undefined) delay = Math.min(delay, (validUntil - this.#clock.now()) / 2);
    return Math.max(min, Math.min(max, delay));
  }

  /** Starts background refreshes (the timer does not keep the process alive). Idempotent. */
  start(): this {
    if (this.#timer !== undefined || this.#closed) return this;
    const tick = (): void => {
      this.#timer = setTimeout(() => {
        void this.refresh().finally(() => {
          if (!this.#closed) tick();
        });
      }, this.nextRefreshMs());
      this.#timer.unref();
    };
    tick();
    return this;
  }

  /** Stops refreshing. Idempotent. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /**
   * IdP options drawn from this metadata: entityID, SSO and SLO endpoints, and a live signing
   * certificate set (rollover). Anything in `rest` overrides. The SingleLogoutService is taken
   * with the Redirect binding when offered, else with HTTP-POST (`sloBinding: 'post'`), and its
   * ResponseLocation, when given, becomes `sloResponseUrl`.
   */
  idpOptions(
    rest: Omit<SamlIdpOptions, 'entityId' | 'ssoUrl' | 'signingCerts'> & Partial<SamlIdpOptions>,
  ): SamlIdpOptions {
    const { sso, slo, sloResponse, entityId } = this.#current;
    const ssoUrl = sso.redirect ?? sso.post ?? '';
    const sloBinding = slo.redirect === undefined && slo.post !== undefined ? 'post' : 'redirect';
    const sloUrl = slo[sloBinding];
    const sloResponseUrl = sloResponse[sloBinding];
    return {
      entityId,
      ssoUrl,
      ...(sloUrl === undefined ? {} : { sloUrl }),
      ...(sloUrl === undefined || sloBinding === 'redirect' ? {} : { sloBinding }),
      ...(sloUrl === undefined || sloResponseUrl === undefined ? {} : { sloResponseUrl }),
      signingCerts: () => this.signingCerts(),
      ...(sso.redirect === undefined ? { authnRequestBinding: 'post' as const } : {}),
      ...rest,
    };
  }
}
