import { describe, expect, it } from 'vitest';
import { matchesRegisteredRedirectUri, redirectUriProblem } from './redirect-uri.js';

describe('redirect URI registration', () => {
  it('accepts absolute https URIs, and http only for loopback hosts', () => {
    for (const uri of [
      'https://app.example.com/cb',
      'https://app.example.com/cb?x=1',
      'http://127.0.0.1:8080/cb',
      'http://[::1]/cb',
      'http://localhost:3000/cb',
    ]) {
      expect(redirectUriProblem(uri), uri).toBeUndefined();
    }
  });

  it('refuses fragments, relative URIs, credentials, plain http and other schemes', () => {
    const cases: [string, RegExp][] = [
      ['https://app.example.com/cb#frag', /fragment/],
      ['https://app.example.com/cb#', /fragment/],
      ['/cb', /absolute/],
      ['https://user:pw@app.example.com/cb', /credentials/],
      ['http://app.example.com/cb', /https/],
      ['http://127.0.0.1.evil.com/cb', /https/],
      ['javascript:alert(1)', /https/],
      ['com.example.app:/cb', /https/],
    ];
    for (const [uri, problem] of cases) expect(redirectUriProblem(uri), uri).toMatch(problem);
  });
});

describe('redirect URI matching', () => {
  const registered = [
    'https://app.example.com/cb',
    'http://127.0.0.1:8080/native',
    'http://localhost:3000/cb',
  ];

  it('redirect_uri must match exactly: no prefix, suffix, case or normalisation leniency', () => {
    expect(matchesRegisteredRedirectUri('https://app.example.com/cb', registered)).toBe(true);
    for (const uri of [
      'https://app.example.com/cb/evil',
      'https://app.example.com/cbx',
      'https://app.example.com/c',
      'https://app.example.com/cb?x=1',
      'https://app.example.com/cb/',
      'https://APP.example.com/cb',
      'https://app.example.com:443/cb',
      'https://app.example.com/%63b',
      'https://app.example.com.evil.com/cb',
      'http://app.example.com/cb',
    ]) {
      expect(matchesRegisteredRedirectUri(uri, registered), uri).toBe(false);
    }
  });

  it('loopback IP redirect URIs may differ in port only (RFC 8252 §7.3)', () => {
    expect(matchesRegisteredRedirectUri('http://127.0.0.1:51234/native', registered)).toBe(true);
    expect(matchesRegisteredRedirectUri('http://127.0.0.1/native', registered)).toBe(true);
    expect(matchesRegisteredRedirectUri('http://[::1]:9/x', ['http://[::1]/x'])).toBe(true);
    expect(matchesRegisteredRedirectUri('http://127.0.0.1:51234/native2', registered)).toBe(false);
    expect(matchesRegisteredRedirectUri('http://127.0.0.1:51234/native?x', registered)).toBe(false);
    expect(matchesRegisteredRedirectUri('http://127.0.0.1:99999/native', registered)).toBe(false);
    expect(matchesRegisteredRedirectUri('http://[::1]:51234/native', registered)).toBe(false);
    // `localhost` is a name a hosts file can redirect, so it gets no port exception.
    expect(matchesRegisteredRedirectUri('http://localhost:4000/cb', registered)).toBe(false);
  });
});
