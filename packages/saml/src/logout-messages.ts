/**
 * Checks on inbound LogoutRequest and LogoutResponse messages, read from bytes a signature
 * covered (the whole deflated message for the Redirect binding, the signed reference for POST).
 *
 * @packageDocumentation
 */
import type { Element } from '@xmldom/xmldom';
import { SAML_NS, SAML_URI } from './constants.js';
import { protocolInvalid } from './protocol-error.js';
import {
  attribute,
  children,
  isElement,
  optionalChild,
  parseInstant,
  parseSignedXml,
  requiredChild,
  textOf,
} from './signed-dom.js';

/** What a logout message must match. */
export interface LogoutExpectations {
  readonly idpEntityId: string;
  /** Our SingleLogoutService URL for this IdP: the message's Destination. */
  readonly sloUrl: string;
  readonly now: number;
  readonly skewMs: number;
  /** How old IssueInstant may be. */
  readonly maxAgeMs: number;
}

/** A checked LogoutRequest. */
export interface VerifiedLogoutRequest {
  readonly id: string;
  readonly nameId: string;
  readonly nameIdFormat: string | undefined;
  readonly sessionIndexes: readonly string[];
  /** Until when its ID must be remembered (replay horizon). */
  readonly validUntil: number;
}

/** A checked LogoutResponse. */
export interface VerifiedLogoutResponse {
  readonly inResponseTo: string;
  readonly success: boolean;
  readonly status: string | undefined;
}

function checkCommon(root: Element, expect: LogoutExpectations): number {
  if (attribute(root, 'Version') !== '2.0')
    throw protocolInvalid(`${root.localName ?? ''} Version is not 2.0`);
  if (!attribute(root, 'ID')) throw protocolInvalid('logout message has no ID');
  const issued = parseInstant(attribute(root, 'IssueInstant'), 'IssueInstant');
  if (issued > expect.now + expect.skewMs)
    throw protocolInvalid('logout IssueInstant in the future');
  if (issued < expect.now - expect.skewMs - expect.maxAgeMs)
    throw protocolInvalid('logout message too old');
  if (attribute(root, 'Destination') !== expect.sloUrl) {
    throw protocolInvalid('logout Destination is not our SingleLogoutService');
  }
  const issuer = requiredChild(root, SAML_NS.assertion, 'Issuer');
  if (textOf(issuer) !== expect.idpEntityId) throw protocolInvalid('logout Issuer is not the IdP');
  return issued;
}

/**
 * Checks a LogoutRequest from the IdP.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID
 */
export function checkLogoutRequest(xml: string, expect: LogoutExpectations): VerifiedLogoutRequest {
  const root = parseSignedXml(xml);
  if (!isElement(root, SAML_NS.protocol, 'LogoutRequest'))
    throw protocolInvalid('not a LogoutRequest');
  const issued = checkCommon(root, expect);
  const notOnOrAfterRaw = attribute(root, 'NotOnOrAfter');
  const notOnOrAfter =
    notOnOrAfterRaw === undefined ? undefined : parseInstant(notOnOrAfterRaw, 'NotOnOrAfter');
  // CVE-2023-40178: an expired LogoutRequest is a replayable forced logout.
  if (notOnOrAfter !== undefined && expect.now - expect.skewMs >= notOnOrAfter) {
    throw protocolInvalid('LogoutRequest expired');
  }
  if (children(root, SAML_NS.assertion, 'EncryptedID').length > 0)
    throw protocolInvalid('EncryptedID is not supported');
  const nameIdEl = optionalChild(root, SAML_NS.assertion, 'NameID');
  if (nameIdEl === undefined || textOf(nameIdEl) === '')
    throw protocolInvalid('LogoutRequest has no NameID');
  return {
    id: attribute(root, 'ID') ?? '',
    nameId: textOf(nameIdEl),
    nameIdFormat: attribute(nameIdEl, 'Format'),
    sessionIndexes: children(root, SAML_NS.protocol, 'SessionIndex').map(textOf),
    validUntil: notOnOrAfter ?? issued + expect.maxAgeMs,
  };
}

/**
 * Checks a LogoutResponse from the IdP (its InResponseTo is consumed by the caller).
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID
 */
export function checkLogoutResponse(
  xml: string,
  expect: LogoutExpectations,
): VerifiedLogoutResponse {
  const root = parseSignedXml(xml);
  if (!isElement(root, SAML_NS.protocol, 'LogoutResponse'))
    throw protocolInvalid('not a LogoutResponse');
  checkCommon(root, expect);
  const inResponseTo = attribute(root, 'InResponseTo');
  if (!inResponseTo) throw protocolInvalid('LogoutResponse has no InResponseTo');
  const status = attribute(
    requiredChild(requiredChild(root, SAML_NS.protocol, 'Status'), SAML_NS.protocol, 'StatusCode'),
    'Value',
  );
  return { inResponseTo, success: status === SAML_URI.statusSuccess, status };
}
