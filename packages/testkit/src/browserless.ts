/**
 * Just enough of a browser to walk an IdP's login: a cookie jar, manual redirects, and reading
 * forms out of HTML. SimpleSAMLphp answers errors with HTTP 200 pages, so every step checks the
 * content it expects and fails with the page text otherwise.
 */

/** An HTML form: where it goes and its named inputs. */
export interface HtmlForm {
  readonly action: string;
  readonly fields: Record<string, string>;
}

function decodeEntities(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)')`, 'i').exec(tag);
  return m === null ? undefined : decodeEntities(m[1] ?? m[2] ?? '');
}

/** The first `<form>` in `html` (resolved against `base`), or undefined. */
export function readForm(html: string, base: string): HtmlForm | undefined {
  const form = /<form\b[^>]*>([\s\S]*?)<\/form>/i.exec(html);
  if (form === null) return undefined;
  const action = attr(form[0].slice(0, form[0].indexOf('>') + 1), 'action') ?? base;
  const fields: Record<string, string> = {};
  for (const input of form[1]?.match(/<input\b[^>]*>/gi) ?? []) {
    const name = attr(input, 'name');
    if (name !== undefined) fields[name] = attr(input, 'value') ?? '';
  }
  return { action: new URL(action, base).toString(), fields };
}

/** A page as fetched: final URL, status, body. */
export interface Page {
  readonly url: string;
  readonly status: number;
  readonly body: string;
}

/** fetch with a cookie jar and manual redirects. */
export class BrowserlessClient {
  readonly #cookies = new Map<string, string>();

  async #fetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#cookies.size > 0) {
      headers.set('cookie', [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    }
    const response = await fetch(url, {
      ...init,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair = ''] = cookie.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      // An empty value is how a server clears a cookie (with an expiry in the past).
      if (value === '') this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
    return response;
  }

  /** One request (GET, or POST of a form) with the cookie jar; redirects are not followed. */
  step(url: string, form?: Record<string, string>): Promise<Response> {
    return this.#fetch(
      url,
      form === undefined
        ? {}
        : {
            method: 'POST',
            body: new URLSearchParams(form).toString(),
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          },
    );
  }

  /** The jar as a `Cookie` header (every cookie: tests talk to loopback hosts only). */
  cookieHeader(): string {
    return [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** GET (or POST a form) and follow redirects, up to `maxRedirects`. */
  async go(url: string, form?: Record<string, string>, maxRedirects = 10): Promise<Page> {
    let current = url;
    let init: RequestInit =
      form === undefined
        ? {}
        : {
            method: 'POST',
            body: new URLSearchParams(form).toString(),
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
          };
    for (let hop = 0; hop <= maxRedirects; hop++) {
      const response = await this.#fetch(current, init);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location !== null) {
        await response.body?.cancel();
        current = new URL(location, current).toString();
        init = {};
        continue;
      }
      return { url: current, status: response.status, body: await response.text() };
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Follows redirects but stops before leaving `origin`; returns the URL it would go to. */
  async goUntilLeaving(url: string, origin: string, maxRedirects = 10): Promise<string> {
    let current = url;
    for (let hop = 0; hop <= maxRedirects; hop++) {
      if (new URL(current).origin !== origin) return current;
      const response = await this.#fetch(current);
      const location = response.headers.get('location');
      await response.body?.cancel();
      if (location === null)
        throw new Error(`no redirect from ${current} (HTTP ${response.status})`);
      current = new URL(location, current).toString();
    }
    throw new Error(`too many redirects from ${url}`);
  }
}

/** The page text, shortened, for assertion messages. */
export function pageText(page: Page): string {
  return page.body
    .replace(/<[^>]+>/g, ' ')
    .replace(/\s+/g, ' ')
    .slice(0, 800);
}
