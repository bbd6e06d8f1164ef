/**
 * `@authbridge/koa`: sessions with Django's login/logout semantics, a lazy `ctx.state.user`,
 * stateless bearer authentication, CSRF, guards and an error mapper.
 *
 * @packageDocumentation
 */
export type { AuthState } from './auth-state.js';
export { bearer, type BearerOptions, ChallengeError } from './bearer.js';
export { csrf, type CsrfOptions, csrfToken } from './csrf.js';
export {
  type ErrorHandlerOptions,
  errorHandler,
  type ErrorLogger,
  sendError,
} from './error-handler.js';
export {
  requireAuth,
  requirePerm,
  type RequireAuthOptions,
  type RequirePermOptions,
} from './guards.js';
export {
  authbridge,
  type AuthbridgeOptions,
  BACKEND_SESSION_KEY,
  EXPIRES_SESSION_KEY,
  HASH_SESSION_KEY,
  login,
  type LoginOptions,
  logout,
  updateSessionAuthHash,
  SESSION_KEY,
} from './session-auth.js';
export {
  CSRF_SESSION_KEY,
  destroySession,
  Session,
  type SessionData,
  type SessionOptions,
  type SessionState,
  sessions,
} from './session.js';
export { escapeHtml } from './escape-html.js';
export {
  type LogoutOutcome,
  type OutboundSamlMessage,
  type SamlRoutesBackend,
  type SamlRoutesLogger,
  type SamlRoutesOptions,
  samlLogoutMessage,
  samlLogoutUrl,
  sendSamlMessage,
  samlRoutes,
  type SamlSessionFacts,
} from './saml-routes.js';
