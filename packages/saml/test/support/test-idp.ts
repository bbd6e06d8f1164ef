/**
 * An in-process SAML IdP for tests: it knows the SP it talks to, builds valid signed responses by
 * default, and lets each test override any field or signing choice to craft a hostile one.
 */
import {
  BEARER,
  buildAssertionXml,
  buildResponseXml,
  encodePost,
  encryptAssertion,
  type EncryptOptions,
  instant,
  NAMEID_PERSISTENT,
  PASSWORD_PROTECTED_TRANSPORT,
  type ResponseSpec,
  samlId,
  signElement,
  type SignOptions,
  STATUS_SUCCESS,
} from './saml-xml.js';
import { type TestKeyPair, testKeyPair } from '@authbridge/testkit';

/** Which parts carry a signature. */
export type SignWhat = 'both' | 'response' | 'assertion' | 'none';

/** Options for one response. */
export interface IssueOptions {
  readonly sign?: SignWhat;
  /** Sign with this key instead of the IdP's own (wrong-key tests). */
  readonly keys?: TestKeyPair;
  readonly signatureAlgorithm?: string;
  readonly digestAlgorithm?: string;
  readonly transforms?: readonly string[];
  readonly canonicalizationAlgorithm?: string;
  /** Rewrite the assertion XML before it is signed (still signed if asked). */
  readonly assertionXml?: (xml: string) => string;
  /** Encrypt the (signed) assertion for this SP certificate (EncryptedAssertion). */
  readonly encryptFor?: string;
  /** Options for that encryption. */
  readonly encryption?: EncryptOptions;
  /** Rewrite the Response XML (holding the signed assertion) before the Response is signed. */
  readonly responseXml?: (xml: string) => string;
}

/** A response as issued. */
export interface IssuedResponse {
  readonly spec: ResponseSpec;
  readonly xml: string;
  /** Base64, as posted to the ACS. */
  readonly samlResponse: string;
}

/** The SP side a test IdP needs to know. */
export interface TestSp {
  readonly entityId: string;
  readonly acsUrl: string;
}

/** An IdP with its own key pair, issuing responses to one SP. */
export class TestIdp {
  readonly entityId: string;
  readonly keys: TestKeyPair;
  readonly sp: TestSp;

  constructor(options: { entityId: string; sp: TestSp; keys?: TestKeyPair }) {
    this.entityId = options.entityId;
    this.sp = options.sp;
    this.keys = options.keys ?? testKeyPair(`idp:${options.entityId}`);
  }

  /** A valid response description for `nameId`, issued now; override any field. */
  spec(overrides: Partial<ResponseSpec> = {}, now = Date.now()): ResponseSpec {
    return {
      responseId: samlId(),
      assertionId: samlId(),
      issueInstant: instant(now),
      version: '2.0',
      assertionVersion: '2.0',
      destination: this.sp.acsUrl,
      inResponseTo: undefined,
      responseIssuer: this.entityId,
      assertionIssuer: this.entityId,
      statusCode: STATUS_SUCCESS,
      nameId: 'alice',
      nameIdFormat: NAMEID_PERSISTENT,
      subjectConfirmations: [
        {
          method: BEARER,
          recipient: this.sp.acsUrl,
          notOnOrAfter: instant(now + 5 * 60_000),
          inResponseTo: overrides.inResponseTo,
        },
      ],
      notBefore: instant(now - 60_000),
      notOnOrAfter: instant(now + 5 * 60_000),
      audiences: [[this.sp.entityId]],
      authnInstant: instant(now),
      sessionIndex: samlId(),
      sessionNotOnOrAfter: instant(now + 8 * 3_600_000),
      authnContextClassRef: PASSWORD_PROTECTED_TRANSPORT,
      attributes: [],
      ...overrides,
    };
  }

  /** Builds and signs a response from `spec` (see {@link TestIdp.spec}). */
  issue(spec: ResponseSpec, options: IssueOptions = {}): IssuedResponse {
    const sign = options.sign ?? 'both';
    const keys = options.keys ?? this.keys;
    const signOptions: SignOptions = {
      privateKeyPem: keys.privateKeyPem,
      certPem: keys.certPem,
      ...(options.signatureAlgorithm === undefined
        ? {}
        : { signatureAlgorithm: options.signatureAlgorithm }),
      ...(options.digestAlgorithm === undefined
        ? {}
        : { digestAlgorithm: options.digestAlgorithm }),
      ...(options.transforms === undefined ? {} : { transforms: options.transforms }),
      ...(options.canonicalizationAlgorithm === undefined
        ? {}
        : { canonicalizationAlgorithm: options.canonicalizationAlgorithm }),
    };
    let assertion = buildAssertionXml(spec);
    if (options.assertionXml) assertion = options.assertionXml(assertion);
    if (sign === 'both' || sign === 'assertion')
      assertion = signElement(assertion, 'Assertion', signOptions);
    if (options.encryptFor !== undefined)
      assertion = encryptAssertion(assertion, options.encryptFor, options.encryption);
    let xml = buildResponseXml(spec, assertion);
    if (options.responseXml) xml = options.responseXml(xml);
    if (sign === 'both' || sign === 'response') xml = signElement(xml, 'Response', signOptions);
    return { spec, xml, samlResponse: encodePost(xml) };
  }

  /** Shorthand: a valid, fully signed response with overrides. */
  respond(overrides: Partial<ResponseSpec> = {}, options: IssueOptions = {}): IssuedResponse {
    return this.issue(this.spec(overrides), options);
  }
}
