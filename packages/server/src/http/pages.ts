/**
 * The host's HTML: a login form that works without JavaScript and a small home page. Every
 * interpolated value is escaped.
 *
 * @packageDocumentation
 */

import { escapeHtml } from '@authbridge/koa';

function layout(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)} · authbridge</title>
<style>
body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}
label{display:block;margin-top:1rem;font-weight:600}
input[type=text],input[type=password]{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}
button{margin-top:1.25rem;padding:.6rem 1.2rem;font-size:1rem;cursor:pointer}
.error{background:#fde8e8;border:1px solid #c81e1e;padding:.75rem;margin-top:1rem}
</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

/** What the login page shows. */
export interface LoginPageModel {
  readonly csrfToken: string;
  readonly error?: string | undefined;
  readonly username?: string | undefined;
  readonly next?: string | undefined;
  /** Whether any backend takes a username and password. */
  readonly passwordLogin: boolean;
  /** SAML identity providers to offer, one button each. */
  readonly samlIdps?: readonly { readonly id: string; readonly displayName: string }[];
}

/** The login page. */
export function loginPage(model: LoginPageModel): string {
  const error = model.error
    ? `<p class="error" role="alert" id="login-error">${escapeHtml(model.error)}</p>`
    : '';
  const form = model.passwordLogin
    ? `<form method="post" action="/login">
<input type="hidden" name="_csrf" value="${escapeHtml(model.csrfToken)}">
${model.next ? `<input type="hidden" name="next" value="${escapeHtml(model.next)}">` : ''}
<label for="username">Username</label>
<input type="text" id="username" name="username" autocomplete="username" required value="${escapeHtml(model.username ?? '')}"${model.error ? ' aria-describedby="login-error"' : ''}>
<label for="password">Password</label>
<input type="password" id="password" name="password" autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form>`
    : '';
  const next = model.next
    ? `<input type="hidden" name="next" value="${escapeHtml(model.next)}">`
    : '';
  const idps = (model.samlIdps ?? [])
    .map(
      (idp) => `<form method="get" action="/saml/${encodeURIComponent(idp.id)}/login">${next}
<button type="submit">Sign in with ${escapeHtml(idp.displayName)}</button>
</form>`,
    )
    .join('\n');
  return layout('Sign in', `<h1>Sign in</h1>\n${error}\n${form}\n${idps}`);
}

/** The home page: who is logged in, and a logout button. */
export function homePage(model: {
  username: string | undefined;
  backend: string | undefined;
  csrfToken: string;
}): string {
  if (model.username === undefined) {
    return layout(
      'authbridge',
      '<h1>authbridge</h1>\n<p>You are not signed in. <a href="/login">Sign in</a></p>',
    );
  }
  return layout(
    'authbridge',
    `<h1>authbridge</h1>
<p>Signed in as <strong id="username">${escapeHtml(model.username)}</strong> through <strong>${escapeHtml(model.backend ?? '')}</strong>. <a href="/api/me">/api/me</a></p>
<form method="post" action="/logout">
<input type="hidden" name="_csrf" value="${escapeHtml(model.csrfToken)}">
<button type="submit">Sign out</button>
</form>`,
  );
}
