import { describe, expect, it } from 'vitest';
import { parseRedisInfo } from './probes.ts';

describe('parseRedisInfo', () => {
  it('reads the field:value lines of an INFO answer, skipping section headers', () => {
    const text = '# Replication\r\nrole:slave\r\nmaster_link_status:up\r\nmaster_repl_offset:1234\r\n\r\n';
    expect(parseRedisInfo(text)).toEqual({
      role: 'slave',
      master_link_status: 'up',
      master_repl_offset: '1234',
    });
  });

  it('keeps colons inside a value', () => {
    expect(parseRedisInfo('slave0:ip=127.0.0.1,port=6380,state=online\r\n')).toEqual({
      slave0: 'ip=127.0.0.1,port=6380,state=online',
    });
  });
});
