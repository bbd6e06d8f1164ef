/**
 * Whether a URL's host is this machine.
 *
 * @packageDocumentation
 */

// 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine.
const LOOPBACK = /^(127(?:\.\d{1,3}){3}|\[::1\]|localhost)$/i;

/**
 * Whether `hostname` (as `URL.hostname` gives it: IPv6 in brackets) names this machine. Plain
 * http to it needs no TLS (a sidecar, a test server); to anything else it must be spelled out in
 * configuration.
 */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK.test(hostname);
}
