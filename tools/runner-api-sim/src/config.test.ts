import { describe, expect, it } from 'vitest';
import { loadSimConfig, parseClasses, SimConfigError } from './config.ts';

describe('parseClasses', () => {
  it('reads several classes with several tokens each', () => {
    expect(parseClasses(' acme/small=t1, t2 ;acme/big=t3;')).toEqual({
      'acme/small': ['t1', 't2'],
      'acme/big': ['t3'],
    });
  });

  it('reads nothing from an empty setting', () => {
    expect(parseClasses('')).toEqual({});
  });

  it.each(['acme/small', 'not-a-class=secret-token', 'acme/small='])(
    'rejects %j without echoing tokens',
    (spec) => {
      expect(() => parseClasses(spec)).toThrow(SimConfigError);
      try {
        parseClasses(spec);
      } catch (error) {
        expect((error as Error).message).toContain('LONGSHORE_SIM_CLASSES entry 1');
        expect((error as Error).message).not.toContain('secret-token');
      }
    },
  );
});

describe('loadSimConfig', () => {
  it('defaults to loopback and any free port', () => {
    expect(loadSimConfig({}, [])).toEqual({
      host: '127.0.0.1',
      port: 0,
      classes: {},
      apiToken: undefined,
      agentVersion: undefined,
      logLevel: 'info',
      playAgent: false,
      agentNamespace: undefined,
    });
  });

  it('reads env, with flags winning for host and port', () => {
    const config = loadSimConfig(
      {
        LONGSHORE_SIM_HOST: '0.0.0.0',
        LONGSHORE_SIM_PORT: '8080',
        LONGSHORE_SIM_CLASSES: 'acme/small=t1',
        LONGSHORE_SIM_API_TOKEN: 'api',
        LONGSHORE_SIM_AGENT_VERSION: '9.9.9',
        LONGSHORE_SIM_LOG_LEVEL: 'warn',
        LONGSHORE_SIM_PLAY_AGENT: 'true',
        LONGSHORE_SIM_AGENT_NAMESPACE: 'tasks',
      },
      ['--port', '9090'],
    );
    expect(config).toEqual({
      host: '0.0.0.0',
      port: 9090,
      classes: { 'acme/small': ['t1'] },
      apiToken: 'api',
      agentVersion: '9.9.9',
      logLevel: 'warn',
      playAgent: true,
      agentNamespace: 'tasks',
    });
  });

  it('rejects a bad port and unknown flags', () => {
    expect(() => loadSimConfig({ LONGSHORE_SIM_PORT: 'http' }, [])).toThrow(/LONGSHORE_SIM_PORT/);
    expect(() => loadSimConfig({}, ['--api-token', 'x'])).toThrow(SimConfigError);
    expect(() => loadSimConfig({ LONGSHORE_SIM_PLAY_AGENT: 'yes please' }, [])).toThrow(
      /LONGSHORE_SIM_PLAY_AGENT/,
    );
  });
});
