import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadRegoPolicyDir } from './rego-policy-engine.js';

const policyDir = fileURLToPath(new URL('../../policies', import.meta.url));
const engine = loadRegoPolicyDir(policyDir);

function decide(action: string, scope: string, claims: Record<string, unknown> = { tenant_id: 't1' }) {
  return engine.evaluate('cpod.authz.decision', { claims: { ...claims, scope }, action, resource: 'people' });
}

describe('default authz policy', () => {
  it('compiles from sidecar/policies', () => {
    expect(readFileSync(`${policyDir}/authz.rego`, 'utf8')).toContain('package cpod.authz');
    expect(engine.modules).toContain('authz.rego');
  });

  it.each([
    ['read', 'people:read'],
    ['list', 'people:read'],
    ['create', 'people:write'],
    ['update', 'people:write'],
    ['delete', 'people:write'],
  ])('allows %s with scope %s', (action, scope) => {
    expect(decide(action, `openid ${scope}`)).toEqual({
      defined: true,
      value: { allow: true, reason: 'allowed' },
    });
  });

  it.each([
    ['read', 'people:write', 'people:read'],
    ['list', 'audit:read', 'people:read'],
    ['create', 'people:read', 'people:write'],
    ['update', '', 'people:write'],
    ['delete', 'people:read audit:write', 'people:write'],
  ])('denies %s with scope %j, naming %s', (action, scope, required) => {
    expect(decide(action, scope)).toEqual({
      defined: true,
      value: { allow: false, reason: `scope "${required}" required` },
    });
  });

  it('does not match scope prefixes or substrings', () => {
    expect(decide('read', 'people:readonly').value).toMatchObject({ allow: false });
    expect(decide('read', 'xpeople:read').value).toMatchObject({ allow: false });
  });

  it('denies an unknown action with its name', () => {
    expect(decide('purge', 'people:read people:write')).toEqual({
      defined: true,
      value: { allow: false, reason: 'unknown action "purge"' },
    });
  });

  it('denies a token without tenant, or with an empty or non-string tenant', () => {
    for (const claims of [{}, { tenant_id: '' }, { tenant_id: 7 }]) {
      expect(decide('read', 'people:read', claims)).toEqual({
        defined: true,
        value: { allow: false, reason: 'token has no tenant' },
      });
    }
  });

  it('denies when the scope claim is missing', () => {
    const r = engine.evaluate('data.cpod.authz.decision', {
      claims: { tenant_id: 't1' },
      action: 'read',
      resource: 'people',
    });
    expect(r).toEqual({ defined: true, value: { allow: false, reason: 'scope "people:read" required' } });
  });

  it('accepts both path spellings and exposes allow on its own', () => {
    const input = { claims: { tenant_id: 't1', scope: 'people:read' }, action: 'read', resource: 'people' };
    expect(engine.evaluate('data.cpod.authz.allow', input)).toEqual({ defined: true, value: true });
    expect(engine.evaluate('cpod.authz.allow', input)).toEqual({ defined: true, value: true });
    expect(engine.evaluate('cpod.authz.nope', input)).toEqual({ defined: false });
  });

  it('denies (defined, false) with no input at all', () => {
    expect(engine.evaluate('cpod.authz.allow', undefined)).toEqual({ defined: true, value: false });
  });
});
