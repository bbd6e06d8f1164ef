/**
 * The SAML Web-SSO profile rules node-saml leaves out (Profiles §4.1.4.3, Core §2-3), applied to
 * the XML its signature verification produced: the signed Response when the Response is signed,
 * else the signed Assertion alone. An unsigned envelope is never read: nothing in it can be
 * trusted, and everything that matters is repeated inside the signed assertion.
 *
 * @packageDocumentation
 */
import type { Element } from '@xmldom/xmldom';
import { SAML_NS, SAML_URI } from './constants.js';
import { protocolInvalid } from './protocol-error.js';
import {
  attribute,
  children,
  hasElementChildren,
  isElement,
  optionalChild,
  parseInstant,
  parseSignedXml,
  requiredChild,
  textOf,
} from './signed-dom.js';

/** One attribute of the assertion, by its Name. */
export interface SamlAttribute {
  readonly name: string;
  readonly friendlyName: string | undefined;
  /** Text values (xsi:nil values left out). */
  readonly values: readonly string[];
  /** True when some value had element content (such values are not in `values`). */
  readonly complex: boolean;
}

/** What the checks read from a verified response, for the rest of the pipeline. */
export interface VerifiedAssertion {
  /** True when the whole Response was signed (its envelope was checked too). */
  readonly responseSigned: boolean;
  readonly assertionId: string;
  readonly issuer: string;
  readonly nameId: string | undefined;
  readonly nameIdFormat: string | undefined;
  /** The NameID's NameQualifier and SPNameQualifier, as sent. */
  readonly nameQualifier: string | undefined;
  readonly spNameQualifier: string | undefined;
  /** The request this answers, `undefined` for an IdP-initiated (unsolicited) response. */
  readonly inResponseTo: string | undefined;
  readonly authnInstant: number;
  readonly sessionIndex: string | undefined;
  readonly sessionNotOnOrAfter: number | undefined;
  readonly authnContextClassRef: string | undefined;
  /** The latest instant at which the assertion is still acceptable (replay-cache horizon). */
  readonly validUntil: number;
  /** Attributes by Name; a Map, so no attribute name can touch a prototype. */
  readonly attributes: ReadonlyMap<string, SamlAttribute>;
}

/** What the response must match. */
export interface ResponseExpectations {
  readonly acsUrl: string;
  readonly spEntityId: string;
  readonly idpEntityId: string;
  readonly now: number;
  readonly skewMs: number;
  /** The signing policy asked for the Response itself to be signed. */
  readonly requireSignedResponse: boolean;
}

/**
 * Checks the verified XML against the profile rules and returns what the pipeline needs.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID naming the failed rule in `detail`
 */
export function checkVerifiedResponse(
  verifiedXml: string,
  expect: ResponseExpectations,
  decryptedAssertionXml?: string,
): VerifiedAssertion {
  const root = parseSignedXml(verifiedXml);
  let assertion: Element;
  let responseInResponseTo: string | undefined;
  const responseSigned = isElement(root, SAML_NS.protocol, 'Response');
  if (responseSigned) {
    responseInResponseTo = checkResponseEnvelope(root, expect);
    const assertions = children(root, SAML_NS.assertion, 'Assertion');
    const encrypted = children(root, SAML_NS.assertion, 'EncryptedAssertion');
    const [only] = assertions;
    if (assertions.length === 1 && encrypted.length === 0 && only !== undefined) {
      assertion = only;
    } else if (
      assertions.length === 0 &&
      encrypted.length === 1 &&
      decryptedAssertionXml !== undefined
    ) {
      // The signature covers the ciphertext; its decryption is as trustworthy as the rest.
      assertion = parseSignedXml(decryptedAssertionXml);
      if (!isElement(assertion, SAML_NS.assertion, 'Assertion')) {
        throw protocolInvalid('EncryptedAssertion does not hold an Assertion');
      }
    } else {
      throw protocolInvalid('signed Response must hold one Assertion');
    }
  } else if (isElement(root, SAML_NS.assertion, 'Assertion')) {
    if (expect.requireSignedResponse) throw protocolInvalid('Response is not signed');
    assertion = root;
  } else {
    throw protocolInvalid(`unexpected signed element ${root.localName ?? ''}`);
  }
  return checkAssertion(assertion, responseSigned, responseInResponseTo, expect);
}

function checkResponseEnvelope(
  response: Element,
  expect: ResponseExpectations,
): string | undefined {
  if (attribute(response, 'Version') !== '2.0')
    throw protocolInvalid('Response Version is not 2.0');
  if (!attribute(response, 'ID')) throw protocolInvalid('Response has no ID');
  checkIssueInstant(attribute(response, 'IssueInstant'), 'Response IssueInstant', expect);
  // Exact comparison with the configured ACS URL, never one rebuilt from the request's Host.
  const destination = attribute(response, 'Destination');
  if (destination !== expect.acsUrl) {
    throw protocolInvalid(`Response Destination ${String(destination)} is not the ACS URL`);
  }
  const issuer = optionalChild(response, SAML_NS.assertion, 'Issuer');
  if (issuer === undefined) throw protocolInvalid('Response has no Issuer');
  checkIssuer(issuer, 'Response', expect);
  const status = requiredChild(response, SAML_NS.protocol, 'Status');
  const code = requiredChild(status, SAML_NS.protocol, 'StatusCode');
  if (attribute(code, 'Value') !== SAML_URI.statusSuccess) {
    throw protocolInvalid(`Response status ${String(attribute(code, 'Value'))}`);
  }
  return attribute(response, 'InResponseTo');
}

function checkIssuer(issuer: Element, where: string, expect: ResponseExpectations): void {
  const format = attribute(issuer, 'Format');
  if (format !== undefined && format !== SAML_URI.nameIdEntity) {
    throw protocolInvalid(`${where} Issuer Format ${format}`);
  }
  if (textOf(issuer) !== expect.idpEntityId) {
    throw protocolInvalid(`${where} Issuer ${textOf(issuer)} is not ${expect.idpEntityId}`);
  }
}

function checkIssueInstant(
  value: string | undefined,
  what: string,
  expect: ResponseExpectations,
): void {
  const at = parseInstant(value, what);
  if (at > expect.now + expect.skewMs) throw protocolInvalid(`${what} is in the future`);
}

function checkAssertion(
  assertion: Element,
  responseSigned: boolean,
  responseInResponseTo: string | undefined,
  expect: ResponseExpectations,
): VerifiedAssertion {
  const { now, skewMs } = expect;
  if (attribute(assertion, 'Version') !== '2.0')
    throw protocolInvalid('Assertion Version is not 2.0');
  const assertionId = attribute(assertion, 'ID');
  if (!assertionId) throw protocolInvalid('Assertion has no ID');
  checkIssueInstant(attribute(assertion, 'IssueInstant'), 'Assertion IssueInstant', expect);
  const issuer = requiredChild(assertion, SAML_NS.assertion, 'Issuer');
  checkIssuer(issuer, 'Assertion', expect);

  // Subject: one NameID (encrypted identifiers are not supported), bearer confirmation.
  const subject = requiredChild(assertion, SAML_NS.assertion, 'Subject');
  if (children(subject, SAML_NS.assertion, 'EncryptedID').length > 0) {
    throw protocolInvalid('EncryptedID is not supported');
  }
  const nameIdEl = optionalChild(subject, SAML_NS.assertion, 'NameID');
  const nameId = nameIdEl === undefined ? undefined : textOf(nameIdEl);
  const nameIdFormat = nameIdEl === undefined ? undefined : attribute(nameIdEl, 'Format');
  const nameQualifier = nameIdEl === undefined ? undefined : attribute(nameIdEl, 'NameQualifier');
  const spNameQualifier =
    nameIdEl === undefined ? undefined : attribute(nameIdEl, 'SPNameQualifier');
  if (nameIdEl !== undefined) {
    if (nameId === '' || hasElementChildren(nameIdEl)) throw protocolInvalid('NameID is empty');
    if (spNameQualifier !== undefined && spNameQualifier !== expect.spEntityId) {
      throw protocolInvalid(`NameID SPNameQualifier ${spNameQualifier} is not this SP`);
    }
  }
  const bearer = checkBearerConfirmation(subject, responseSigned, responseInResponseTo, expect);

  // Conditions: exactly one element; node-saml checked its window and audience, we check again
  // with our skew so both agree, and make the window mandatory.
  const conditions = children(assertion, SAML_NS.assertion, 'Conditions');
  const [cond] = conditions;
  if (conditions.length !== 1 || cond === undefined) {
    throw protocolInvalid('Assertion needs exactly one Conditions');
  }
  const condNotBefore = attribute(cond, 'NotBefore');
  if (condNotBefore !== undefined && parseInstant(condNotBefore, 'NotBefore') > now + skewMs) {
    throw protocolInvalid('Conditions not yet valid');
  }
  const condNotOnOrAfter = attribute(cond, 'NotOnOrAfter');
  const condEnd =
    condNotOnOrAfter === undefined ? undefined : parseInstant(condNotOnOrAfter, 'NotOnOrAfter');
  if (condEnd !== undefined && now - skewMs >= condEnd) throw protocolInvalid('Conditions expired');
  const restrictions = children(cond, SAML_NS.assertion, 'AudienceRestriction');
  if (restrictions.length === 0) throw protocolInvalid('no AudienceRestriction');
  for (const restriction of restrictions) {
    const audiences = children(restriction, SAML_NS.assertion, 'Audience').map(textOf);
    if (!audiences.includes(expect.spEntityId)) throw protocolInvalid('audience is not this SP');
  }

  // AuthnStatement: exactly one, with a real AuthnInstant and an unexpired session.
  const statements = children(assertion, SAML_NS.assertion, 'AuthnStatement');
  const [authn] = statements;
  if (statements.length !== 1 || authn === undefined) {
    throw protocolInvalid('Assertion needs exactly one AuthnStatement');
  }
  const authnInstant = parseInstant(attribute(authn, 'AuthnInstant'), 'AuthnInstant');
  if (authnInstant > now + skewMs) throw protocolInvalid('AuthnInstant is in the future');
  const sessionEndRaw = attribute(authn, 'SessionNotOnOrAfter');
  const sessionNotOnOrAfter =
    sessionEndRaw === undefined ? undefined : parseInstant(sessionEndRaw, 'SessionNotOnOrAfter');
  if (sessionNotOnOrAfter !== undefined && now - skewMs >= sessionNotOnOrAfter) {
    throw protocolInvalid('SessionNotOnOrAfter has passed');
  }
  const context = optionalChild(authn, SAML_NS.assertion, 'AuthnContext');
  const classRef =
    context === undefined
      ? undefined
      : optionalChild(context, SAML_NS.assertion, 'AuthnContextClassRef');

  return {
    responseSigned,
    assertionId,
    issuer: textOf(issuer),
    nameId,
    nameIdFormat,
    nameQualifier,
    spNameQualifier,
    inResponseTo: bearer.inResponseTo,
    authnInstant,
    sessionIndex: attribute(authn, 'SessionIndex'),
    sessionNotOnOrAfter,
    authnContextClassRef: classRef === undefined ? undefined : textOf(classRef).trim(),
    validUntil: Math.max(bearer.replayableUntil, condEnd ?? bearer.replayableUntil),
    attributes: readAttributes(assertion),
  };
}

/**
 * The latest NotOnOrAfter of any bearer confirmation of `subject`, at least `floor`: how long the
 * assertion could still be accepted through one of them, so how long its ID must be remembered.
 * Keyed to the confirmation used this time only, a second one running longer let the same bytes
 * in again once the first had expired.
 */
function latestBearerEnd(subject: Element, floor: number): number {
  let latest = floor;
  for (const confirmation of children(subject, SAML_NS.assertion, 'SubjectConfirmation')) {
    if (attribute(confirmation, 'Method') !== SAML_URI.bearer) continue;
    const data = optionalChild(confirmation, SAML_NS.assertion, 'SubjectConfirmationData');
    const raw = data === undefined ? undefined : attribute(data, 'NotOnOrAfter');
    if (raw === undefined) continue;
    try {
      latest = Math.max(latest, parseInstant(raw, 'SubjectConfirmationData NotOnOrAfter'));
    } catch {
      // Unparsable: that confirmation can never be accepted.
    }
  }
  return latest;
}

function checkBearerConfirmation(
  subject: Element,
  responseSigned: boolean,
  responseInResponseTo: string | undefined,
  expect: ResponseExpectations,
): { inResponseTo: string | undefined; notOnOrAfter: number; replayableUntil: number } {
  const { now, skewMs } = expect;
  const failures: string[] = [];
  for (const confirmation of children(subject, SAML_NS.assertion, 'SubjectConfirmation')) {
    if (attribute(confirmation, 'Method') !== SAML_URI.bearer) {
      failures.push('method is not bearer');
      continue;
    }
    const data = optionalChild(confirmation, SAML_NS.assertion, 'SubjectConfirmationData');
    if (data === undefined) {
      failures.push('no SubjectConfirmationData');
      continue;
    }
    const recipient = attribute(data, 'Recipient');
    if (recipient !== expect.acsUrl) {
      failures.push(`Recipient ${String(recipient)} is not the ACS URL`);
      continue;
    }
    const notOnOrAfterRaw = attribute(data, 'NotOnOrAfter');
    if (notOnOrAfterRaw === undefined) {
      failures.push('no NotOnOrAfter');
      continue;
    }
    const notOnOrAfter = parseInstant(notOnOrAfterRaw, 'SubjectConfirmationData NotOnOrAfter');
    if (now - skewMs >= notOnOrAfter) {
      failures.push('expired');
      continue;
    }
    const notBefore = attribute(data, 'NotBefore');
    if (notBefore !== undefined && parseInstant(notBefore, 'NotBefore') > now + skewMs) {
      failures.push('not yet valid');
      continue;
    }
    const inResponseTo = attribute(data, 'InResponseTo');
    if (responseSigned && responseInResponseTo !== inResponseTo) {
      failures.push('InResponseTo differs from the Response');
      continue;
    }
    return { inResponseTo, notOnOrAfter, replayableUntil: latestBearerEnd(subject, notOnOrAfter) };
  }
  throw protocolInvalid(
    `no valid bearer SubjectConfirmation (${failures.join('; ') || 'none present'})`,
  );
}

function readAttributes(assertion: Element): ReadonlyMap<string, SamlAttribute> {
  const out = new Map<string, SamlAttribute>();
  for (const statement of children(assertion, SAML_NS.assertion, 'AttributeStatement')) {
    if (children(statement, SAML_NS.assertion, 'EncryptedAttribute').length > 0) {
      throw protocolInvalid('EncryptedAttribute is not supported');
    }
    for (const el of children(statement, SAML_NS.assertion, 'Attribute')) {
      const name = attribute(el, 'Name');
      if (!name) throw protocolInvalid('Attribute without Name');
      // Two attributes with one Name: which one wins is a parser's choice; refuse instead.
      if (out.has(name)) throw protocolInvalid(`attribute ${name} appears twice`);
      const values: string[] = [];
      let complex = false;
      for (const value of children(el, SAML_NS.assertion, 'AttributeValue')) {
        if (value.getAttributeNS(SAML_NS.xsi, 'nil') === 'true') continue;
        if (hasElementChildren(value)) complex = true;
        else values.push(textOf(value));
      }
      out.set(name, { name, friendlyName: attribute(el, 'FriendlyName'), values, complex });
    }
  }
  return out;
}
