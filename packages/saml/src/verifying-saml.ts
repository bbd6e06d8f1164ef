/**
 * node-saml's `SAML`, extended to hand back what its signature verification produced. node-saml
 * verifies the signature and then reads only the signed bytes (CVE-2025-54419 fix), but it does
 * not expose the signed Response; `getSignedAssertion` receives exactly those bytes, so we keep a
 * copy there, per call, in an AsyncLocalStorage slot (concurrent validations never mix).
 *
 * @packageDocumentation
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { SAML, type SamlConfig } from '@node-saml/node-saml';
// node-saml's own XML helpers (same parser and decryption as its validation); see post-logout.ts.
import * as nodeSamlXml from '@node-saml/node-saml/lib/xml.js';

interface NodeSamlXml {
  readonly parseDomFromString: (xml: string) => Promise<unknown>;
  readonly xpath: {
    readonly selectElements: (node: unknown, path: string) => readonly { toString(): string }[];
  };
  readonly decryptXml: (xml: string, key: string | Buffer) => Promise<string>;
}
const { decryptXml, parseDomFromString, xpath } = nodeSamlXml as unknown as NodeSamlXml;

/** What one call captured. */
interface CaptureSlot {
  verifiedXml: string | undefined;
  assertionXml: string | undefined;
  requestId: string | undefined;
}

const slots = new AsyncLocalStorage<CaptureSlot>();

/** A fresh SAML ID: `_` and 40 hex digits (160 random bits). */
export function newSamlId(): string {
  const id = `_${randomBytes(20).toString('hex')}`;
  const slot = slots.getStore();
  if (slot) slot.requestId = id;
  return id;
}

/** The result of a validated ACS post. */
export interface VerifiedPost {
  /** The XML the signature covered: a Response, or an Assertion when only that was signed. */
  readonly verifiedXml: string;
  /**
   * The assertion node-saml took from it: for a signed Response holding an EncryptedAssertion,
   * the decryption of that signed ciphertext.
   */
  readonly assertionXml: string | undefined;
  /**
   * The plaintext of the posted Response's EncryptedAssertion, signature included (the verified
   * bytes above have the assertion's own Signature removed when only the assertion was signed).
   */
  readonly decryptedXml: string | undefined;
}

/** An authorize message together with the ID of the AuthnRequest inside it. */
export interface IssuedRequest<T> {
  readonly message: T;
  readonly requestId: string;
}

/** node-saml's SAML with access to the verified bytes and the IDs it issues. */
export class VerifyingSaml extends SAML {
  constructor(config: SamlConfig) {
    super({ ...config, generateUniqueId: newSamlId });
  }

  protected override async getSignedAssertion(signedXml: string): Promise<string | null> {
    const slot = slots.getStore();
    const assertion = await super.getSignedAssertion(signedXml);
    if (slot) {
      slot.verifiedXml = signedXml;
      slot.assertionXml = assertion ?? undefined;
    }
    return assertion;
  }

  /**
   * Validates an ACS post with node-saml and returns the signed XML it verified.
   *
   * @throws whatever node-saml throws (map it with `mapSamlError`)
   */
  async verifyPost(samlResponse: string): Promise<VerifiedPost> {
    const slot: CaptureSlot = {
      verifiedXml: undefined,
      assertionXml: undefined,
      requestId: undefined,
    };
    const result = await slots.run(slot, () =>
      this.validatePostResponseAsync({ SAMLResponse: samlResponse }),
    );
    // A null profile is node-saml's "NoPassive" or a logout response: no login either way.
    if (result.profile === null || slot.verifiedXml === undefined) {
      throw new Error('Missing SAML assertion');
    }
    return {
      verifiedXml: slot.verifiedXml,
      assertionXml: slot.assertionXml,
      decryptedXml: await this.#decryptedAssertion(samlResponse),
    };
  }

  /** Decrypts the EncryptedAssertion node-saml decrypted, again, to show what it carried. */
  async #decryptedAssertion(samlResponse: string): Promise<string | undefined> {
    const key = this.options.decryptionPvk;
    const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
    if (key === undefined || !xml.includes('EncryptedAssertion')) return undefined;
    const encrypted = xpath.selectElements(
      await parseDomFromString(xml),
      "/*[local-name()='Response']/*[local-name()='EncryptedAssertion']",
    );
    const [only] = encrypted;
    return encrypted.length === 1 && only !== undefined
      ? decryptXml(only.toString(), key)
      : undefined;
  }

  /** Runs `make` (an authorize-message builder) and reports the AuthnRequest ID it used. */
  async issue<T>(make: () => Promise<T>): Promise<IssuedRequest<T>> {
    const slot: CaptureSlot = {
      verifiedXml: undefined,
      assertionXml: undefined,
      requestId: undefined,
    };
    const message = await slots.run(slot, make);
    if (slot.requestId === undefined) throw new Error('node-saml issued no request ID');
    return { message, requestId: slot.requestId };
  }
}
