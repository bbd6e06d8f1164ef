/**
 * Checks on a message's bytes before any XML parser or signature code sees them: size, encoding,
 * no DTD, and an algorithm allow-list. They can only refuse, never accept, so a lexical scan is
 * safe here (a false match fails closed).
 *
 * @packageDocumentation
 */
import { inflateRawSync } from 'node:zlib';
import { ALLOWED_ALGORITHMS } from './constants.js';
import { protocolInvalid } from './protocol-error.js';

// Base64 with optional line breaks (some IdPs wrap at 64 or 76 columns). Linear by construction:
// whitespace after the data only follows a `=`, so no run of it can be split two ways (the
// earlier `…[\r\n ]*={0,2}[\r\n ]*$` backtracked quadratically: 350 000 spaces and a `!`, sent
// by anyone to the ACS, held the event loop for minutes).
const BASE64 = /^[A-Za-z0-9+/\r\n ]*(?:=[\r\n ]*){0,2}$/;
// Any markup declaration (DOCTYPE, ENTITY, ATTLIST, ELEMENT, NOTATION) and any processing
// instruction other than the XML declaration: SAML needs none, and every DTD trick (entity
// expansion, XXE, the CVE-2025-25291/25292 parser differentials) starts with one.
const MARKUP_DECLARATION = /<!(?!--|\[CDATA\[)/;
const PROCESSING_INSTRUCTION = /<\?(?!xml[\s?])/;
// Every `Algorithm="…"` in the message. XML attribute names cannot be escaped, so each real
// Algorithm attribute matches; a match in text content is refused too (fail closed).
const ALGORITHM_ATTRIBUTE = /Algorithm\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
// RSA-OAEP key transport names SHA-1 as its mask digest by default (xmlenc §5.4.2); that use
// is not a signature, so exactly this construction is exempt from the SHA-1 ban.
const OAEP_SHA1_DIGEST =
  /<(?:[\w.-]+:)?EncryptionMethod\s+Algorithm="http:\/\/www\.w3\.org\/2001\/04\/xmlenc#rsa-oaep-mgf1p"\s*>\s*<(?:[\w.-]+:)?DigestMethod\s+Algorithm="http:\/\/www\.w3\.org\/2000\/09\/xmldsig#sha1"\s*\/>/g;
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Limits for {@link decodePostMessage} and {@link decodeRedirectMessage}. */
export interface RawMessageLimits {
  /** Largest decoded XML accepted, in bytes. */
  readonly maxMessageBytes: number;
}

/**
 * Decodes an HTTP-POST `SAMLResponse`/`SAMLRequest` to XML text and runs {@link assertSafeXml}.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID
 */
export function decodePostMessage(value: unknown, limits: RawMessageLimits): string {
  if (typeof value !== 'string' || value === '') throw protocolInvalid('message missing');
  // 4 base64 characters carry 3 bytes; line breaks only make the limit stricter.
  if (value.length > Math.ceil(limits.maxMessageBytes / 3) * 4 + 1024) {
    throw protocolInvalid(`message larger than ${limits.maxMessageBytes} bytes`);
  }
  if (!BASE64.test(value)) throw protocolInvalid('message is not base64');
  const bytes = Buffer.from(value, 'base64');
  if (bytes.length > limits.maxMessageBytes) {
    throw protocolInvalid(`message larger than ${limits.maxMessageBytes} bytes`);
  }
  return assertSafeXml(bytes);
}

/**
 * Decodes an HTTP-Redirect message (base64 of raw DEFLATE), inflating at most `maxMessageBytes`
 * (a 12 KB deflate bomb would otherwise become gigabytes), and runs {@link assertSafeXml}.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID
 */
export function decodeRedirectMessage(value: unknown, limits: RawMessageLimits): string {
  if (typeof value !== 'string' || value === '') throw protocolInvalid('message missing');
  if (value.length > Math.ceil(limits.maxMessageBytes / 3) * 4) {
    throw protocolInvalid('compressed message too large');
  }
  if (!BASE64.test(value)) throw protocolInvalid('message is not base64');
  let bytes: Buffer;
  try {
    bytes = inflateRawSync(Buffer.from(value, 'base64'), {
      maxOutputLength: limits.maxMessageBytes,
    });
  } catch (cause) {
    throw protocolInvalid('message does not inflate within the size limit', cause);
  }
  return assertSafeXml(bytes);
}

/**
 * Refuses bytes that are not strict UTF-8, carry NUL characters, a DTD or a processing
 * instruction, or name an algorithm outside {@link ALLOWED_ALGORITHMS}; returns the text.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID
 */
export function assertSafeXml(bytes: Uint8Array): string {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch (cause) {
    throw protocolInvalid('message is not UTF-8', cause);
  }
  if (text.includes('\u0000')) throw protocolInvalid('message contains NUL');
  if (MARKUP_DECLARATION.test(text)) throw protocolInvalid('DTD or markup declaration refused');
  if (PROCESSING_INSTRUCTION.test(text)) throw protocolInvalid('processing instruction refused');
  const start = text.trimStart();
  if (!start.startsWith('<')) throw protocolInvalid('message is not XML');
  if (
    start.startsWith('<?xml') &&
    !/^<\?xml[^>]*encoding=["']utf-8["']|^<\?xml(?![^>]*encoding)/i.test(start)
  ) {
    throw protocolInvalid('only UTF-8 XML is accepted');
  }
  for (const match of text.replace(OAEP_SHA1_DIGEST, '').matchAll(ALGORITHM_ATTRIBUTE)) {
    const uri = match[1] ?? match[2] ?? '';
    if (!ALLOWED_ALGORITHMS.has(uri)) throw protocolInvalid(`algorithm not allowed: ${uri}`);
  }
  return text;
}
