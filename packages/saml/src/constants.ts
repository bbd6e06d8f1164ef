/**
 * SAML and XML-DSig identifiers, and the inbound algorithm allow-list.
 *
 * @packageDocumentation
 */

/** XML namespaces the checks look elements up in (never by prefix). */
export const SAML_NS = Object.freeze({
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
  dsig: 'http://www.w3.org/2000/09/xmldsig#',
  xsi: 'http://www.w3.org/2001/XMLSchema-instance',
  metadata: 'urn:oasis:names:tc:SAML:2.0:metadata',
});

/** Status, confirmation-method and NameID-format URIs. */
export const SAML_URI = Object.freeze({
  statusSuccess: 'urn:oasis:names:tc:SAML:2.0:status:Success',
  bearer: 'urn:oasis:names:tc:SAML:2.0:cm:bearer',
  nameIdTransient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  nameIdEntity: 'urn:oasis:names:tc:SAML:2.0:nameid-format:entity',
  bindingRedirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  bindingPost: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
});

/**
 * Every `Algorithm` URI an inbound message may name. SHA-1 (signature or digest), MD5, HMAC,
 * comment-preserving canonicalisation and RSA-1_5 key transport are absent on purpose.
 */
export const ALLOWED_ALGORITHMS: ReadonlySet<string> = new Set([
  // Signature methods.
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
  // Digest methods.
  'http://www.w3.org/2001/04/xmlenc#sha256',
  'http://www.w3.org/2001/04/xmldsig-more#sha384',
  'http://www.w3.org/2001/04/xmlenc#sha512',
  // Transforms and canonicalisation (without comments).
  'http://www.w3.org/2000/09/xmldsig#enveloped-signature',
  'http://www.w3.org/2001/10/xml-exc-c14n#',
  'http://www.w3.org/TR/2001/REC-xml-c14n-20010315',
  // EncryptedAssertion: content and key-transport algorithms (never RSA-1_5, B19).
  'http://www.w3.org/2009/xmlenc11#aes128-gcm',
  'http://www.w3.org/2009/xmlenc11#aes256-gcm',
  'http://www.w3.org/2001/04/xmlenc#aes128-cbc',
  'http://www.w3.org/2001/04/xmlenc#aes256-cbc',
  'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
  'http://www.w3.org/2009/xmlenc11#rsa-oaep',
]);

/** Redirect-binding `SigAlg` values accepted on inbound logout messages. */
export const ALLOWED_REDIRECT_SIG_ALGS: ReadonlySet<string> = new Set([
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha384',
  'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
]);
