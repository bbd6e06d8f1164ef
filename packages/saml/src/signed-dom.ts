/**
 * Reading the signed bytes: one strict parse of the XML that signature verification produced,
 * and namespace-qualified lookups of direct children only (never `getElementsByTagName`, never a
 * search of the whole document, so nothing nested in Advice, Extensions or a Signature counts).
 *
 * @packageDocumentation
 */
import { DOMParser, type Element, MIME_TYPE, onWarningStopParsing } from '@xmldom/xmldom';
import { protocolInvalid } from './protocol-error.js';

const ELEMENT_NODE = 1;

/**
 * Parses signed XML; any warning or error refuses it.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID
 */
export function parseSignedXml(xml: string): Element {
  try {
    const doc = new DOMParser({ onError: onWarningStopParsing }).parseFromString(
      xml,
      MIME_TYPE.XML_TEXT,
    );
    const root = doc.documentElement;
    if (root === null) throw new Error('no document element');
    return root;
  } catch (cause) {
    throw protocolInvalid('signed XML does not parse', cause);
  }
}

/** Whether `el` is `{ns}localName`. */
export function isElement(el: Element, ns: string, localName: string): boolean {
  return el.namespaceURI === ns && el.localName === localName;
}

/** The direct element children of `el` named `{ns}localName`. */
export function children(el: Element, ns: string, localName: string): Element[] {
  const out: Element[] = [];
  for (let node = el.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === ELEMENT_NODE) {
      const child = node as Element;
      if (child.namespaceURI === ns && child.localName === localName) out.push(child);
    }
  }
  return out;
}

/** All direct element children of `el`. */
export function elementChildren(el: Element): Element[] {
  const out: Element[] = [];
  for (let node = el.firstChild; node !== null; node = node.nextSibling) {
    if (node.nodeType === ELEMENT_NODE) out.push(node as Element);
  }
  return out;
}

/**
 * The one direct child `{ns}localName`, `undefined` when absent.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID when there are several
 */
export function optionalChild(el: Element, ns: string, localName: string): Element | undefined {
  const found = children(el, ns, localName);
  if (found.length > 1) throw protocolInvalid(`more than one ${localName} in ${el.localName}`);
  return found[0];
}

/**
 * The one direct child `{ns}localName`.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID when absent or repeated
 */
export function requiredChild(el: Element, ns: string, localName: string): Element {
  const found = optionalChild(el, ns, localName);
  if (found === undefined) throw protocolInvalid(`${el.localName} has no ${localName}`);
  return found;
}

/** An attribute's value, `undefined` when absent (xmldom answers '' for absent ones). */
export function attribute(el: Element, name: string): string | undefined {
  return el.hasAttribute(name) ? (el.getAttribute(name) ?? undefined) : undefined;
}

/** The text of an element, concatenated over all its text children. */
export function textOf(el: Element): string {
  return el.textContent ?? '';
}

/** Whether `el` has element children (complex content). */
export function hasElementChildren(el: Element): boolean {
  return elementChildren(el).length > 0;
}

// xs:dateTime in UTC, as SAML requires (Core 1.3.3): no offsets, no missing zone.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/;

/**
 * Parses a SAML instant strictly (UTC, real calendar date) to epoch milliseconds.
 *
 * @throws {AuthBridgeError} PROTOCOL_INVALID
 */
export function parseInstant(value: string | undefined, what: string): number {
  const m = value === undefined ? null : DATE_TIME.exec(value);
  if (m === null) throw protocolInvalid(`${what} is not a UTC xs:dateTime`);
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  // The fraction group is optional: undefined when absent, whatever the element type says.
  const frac: string | undefined = m[7];
  const ms = Date.UTC(
    y ?? NaN,
    (mo ?? NaN) - 1,
    d,
    h,
    mi,
    s,
    frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000),
  );
  const back = new Date(ms);
  // Date.UTC rolls 2024-02-30 over to March: a round trip catches dates that do not exist.
  if (
    back.getUTCFullYear() !== y ||
    back.getUTCMonth() + 1 !== mo ||
    back.getUTCDate() !== d ||
    back.getUTCHours() !== h ||
    back.getUTCMinutes() !== mi ||
    back.getUTCSeconds() !== s
  ) {
    throw protocolInvalid(`${what} is not a real date`);
  }
  return ms;
}
