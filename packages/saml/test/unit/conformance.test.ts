/**
 * The shared backend conformance suite. A SAML response is single-use, so each user's
 * credentials mint a fresh, signed response every time they are read, as a real IdP would for
 * each login.
 */
import { describeBackendConformance } from '@authbridge/conformance';
import type { SamlCredentials } from '../../src/index.js';
import { samlFixture } from '../support/fixture.js';
import type { TestIdp } from '../support/test-idp.js';
import { testKeyPair } from '@authbridge/testkit';

function freshLogin(idp: TestIdp, nameId: string): SamlCredentials {
  return {
    idp: 'corp',
    get samlResponse(): string {
      return idp.respond({ nameId }).samlResponse;
    },
  };
}

describeBackendConformance<SamlCredentials>({
  name: 'SamlBackend',
  async setup() {
    const f = samlFixture();
    return {
      backend: f.backend,
      users: [
        { credentials: freshLogin(f.idp, 'alice'), username: 'alice' },
        { credentials: freshLogin(f.idp, 'bob'), username: 'bob' },
      ],
      // "Wrong secret": a known user's response signed by a key the SP does not trust.
      wrongSecret: {
        idp: 'corp',
        samlResponse: f.idp.respond({ nameId: 'alice' }, { keys: testKeyPair('attacker') })
          .samlResponse,
      },
      // "Unknown user": an IdP id this SP does not know.
      unknownUser: {
        idp: 'nobody',
        samlResponse: f.idp.respond({ nameId: 'nobody' }).samlResponse,
      },
      foreignCredentials: [
        { username: 'alice', password: 'x' },
        { idp: 'corp' },
        { idp: 'corp', samlResponse: 42 },
      ],
    };
  },
});
