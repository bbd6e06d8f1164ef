import { isSafeLocalPath, safeLocalPath } from '@authbridge/core';
import { expect } from 'chai';

describe('safeLocalPath (open-redirect guard)', function () {
  it('keeps same-origin paths', function () {
    for (const ok of ['/', '/api/me', '/a/b?c=d#e', '/caf%C3%A9'])
      expect(safeLocalPath(ok), ok).to.equal(ok);
  });

  it('refuses other hosts, schemes, backslashes, control characters and oversize values', function () {
    for (const bad of [
      '',
      'api/me',
      '//evil.example',
      '/\\evil.example',
      '/a\\b',
      'https://evil.example',
      'javascript:alert(1)',
      '/a\nb',
      '/a\u0000',
      42,
      null,
    ]) {
      expect(isSafeLocalPath(bad), String(bad)).to.equal(false);
    }
    expect(isSafeLocalPath(`/${'a'.repeat(79)}`, 80)).to.equal(true);
    expect(isSafeLocalPath(`/${'a'.repeat(80)}`, 80)).to.equal(false);
    expect(isSafeLocalPath(`/${'é'.repeat(40)}`, 80)).to.equal(
      false,
      'the limit counts UTF-8 bytes',
    );
  });
});
