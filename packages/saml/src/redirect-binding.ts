/**
 * Inbound HTTP-Redirect messages (logout), verified against the raw query string exactly as it
 * arrived: the signed octets are `SAMLRequest|SAMLResponse=…[&RelayState=…]&SigAlg=…` with the
 * values still URL-encoded as sent (Bindings §3.4.4.1). Parameters are matched by exact name,
 * never by pattern (node-saml matches with `new RegExp(key)`, so a RelayState containing the
 * text "SAMLRequest" confuses it), duplicates are refused, and an unsigned message is refused
 * whenever the IdP has keys (node-saml accepts it).
 *
 * @packageDocumentation
 */
import { verify } from 'node:crypto';
import { ALLOWED_REDIRECT_SIG_ALGS } from './constants.js';
import { protocolInvalid } from './protocol-error.js';

/** A Redirect-binding query, split and checked. */
export interface RedirectMessage {
  readonly kind: 'SAMLRequest' | 'SAMLResponse';
  /** The base64 (deflated) message, URL-decoded. */
  readonly message: string;
  readonly relayState: string | undefined;
}

const HASH_OF: Readonly<Record<string, string>> = {
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256': 'sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384': 'sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512': 'sha512',
};

function formDecode(value: string): string {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch (cause) {
    throw protocolInvalid('query parameter is not URL-encoded', cause);
  }
}

/**
 * Splits a raw query string (without `?`), requires a valid signature by one of `certs` and
 * returns the message. `certs` empty means nothing is trusted: every message is refused.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID
 */
export function verifyRedirectQuery(
  rawQuery: string,
  certs: readonly string[],
  maxQueryLength: number,
): RedirectMessage {
  if (typeof rawQuery !== 'string' || rawQuery.length > maxQueryLength) {
    throw protocolInvalid('query missing or too long');
  }
  const raw = new Map<string, string>();
  for (const part of rawQuery.replace(/^\?/, '').split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const key = formDecode(eq < 0 ? part : part.slice(0, eq));
    const value = eq < 0 ? '' : part.slice(eq + 1);
    if (!['SAMLRequest', 'SAMLResponse', 'RelayState', 'SigAlg', 'Signature'].includes(key))
      continue;
    if (raw.has(key)) throw protocolInvalid(`duplicate ${key} parameter`);
    raw.set(key, value);
  }
  const request = raw.get('SAMLRequest');
  const response = raw.get('SAMLResponse');
  if ((request === undefined) === (response === undefined)) {
    throw protocolInvalid('need exactly one of SAMLRequest and SAMLResponse');
  }
  const kind = request === undefined ? 'SAMLResponse' : 'SAMLRequest';
  const rawMessage = request ?? response ?? '';
  const rawSigAlg = raw.get('SigAlg');
  const rawSignature = raw.get('Signature');
  if (rawSigAlg === undefined || rawSignature === undefined) {
    throw protocolInvalid('unsigned Redirect message');
  }
  const sigAlg = formDecode(rawSigAlg);
  const hash = HASH_OF[sigAlg];
  if (!ALLOWED_REDIRECT_SIG_ALGS.has(sigAlg) || hash === undefined) {
    throw protocolInvalid(`SigAlg not allowed: ${sigAlg}`);
  }
  const rawRelayState = raw.get('RelayState');
  const signed =
    `${kind}=${rawMessage}` +
    (rawRelayState === undefined ? '' : `&RelayState=${rawRelayState}`) +
    `&SigAlg=${rawSigAlg}`;
  const signature = Buffer.from(formDecode(rawSignature), 'base64');
  const data = Buffer.from(signed, 'utf8');
  const ok = certs.some((cert) => {
    try {
      return verify(hash, data, cert, signature);
    } catch {
      return false;
    }
  });
  if (!ok) throw protocolInvalid('Redirect signature does not verify with a pinned key');
  return {
    kind,
    message: formDecode(rawMessage),
    relayState: rawRelayState === undefined ? undefined : formDecode(rawRelayState),
  };
}
