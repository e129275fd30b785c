/** The dashboard's safety settings: loopback unless credentials, well-formed credentials. */
import { describe, expect, it } from 'vitest';
import { DashboardError, isLoopback, resolveDashboardSettings } from '../src/dashboard/settings.js';

describe('resolveDashboardSettings', () => {
  it('defaults to 127.0.0.1:3000, read-only, prefix maestro, no credentials', () => {
    expect(resolveDashboardSettings({})).toEqual({
      host: '127.0.0.1',
      port: 3000,
      allowActions: false,
      prefix: 'maestro',
    });
  });

  it('refuses a non-loopback address without credentials, naming the way out', () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'login1.cluster']) {
      const err = (() => {
        try {
          resolveDashboardSettings({ host });
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(DashboardError);
      expect(err).toMatchObject({ code: 'DASHBOARD_AUTH_REQUIRED' });
      expect((err as Error).message).toContain('--auth user:password');
      expect((err as Error).message).toContain('MAESTRO_DASHBOARD_AUTH');
    }
  });

  it('serves any address with credentials, which may hold colons in the password', () => {
    expect(resolveDashboardSettings({ host: '0.0.0.0', auth: 'ann:se:cr:et' }).auth).toEqual({
      user: 'ann',
      password: 'se:cr:et',
    });
  });

  it('reports every malformed setting at once', () => {
    const message = (() => {
      try {
        resolveDashboardSettings({ auth: 'nocolon', port: 70_000, prefix: 'a:b' });
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toContain('--auth: must be user:password');
    expect(message).toContain('--port: must be from 0 to 65535');
    expect(message).toContain('--prefix: must not contain ":"');
  });
});

describe('isLoopback', () => {
  it('knows the loopback names and addresses', () => {
    for (const h of ['127.0.0.1', '127.4.5.6', 'localhost', '::1', '[::1]', 'LOCALHOST'])
      expect(isLoopback(h)).toBe(true);
    for (const h of ['0.0.0.0', '::', '192.168.1.1', 'localhost.evil.example', '127.0.0.1.nip.io']) {
      expect(isLoopback(h)).toBe(false);
    }
  });
});
