// The pieces of the embedded database's wire session that decide when a connection gives up its turn.
import { describe, expect, it } from 'vitest';
import { BackendTurns, lastReadyStatus, nextMessage, simpleQuery } from '../../shared/db/embedded/wire-session.ts';

const msg = (type: string, body: Buffer = Buffer.alloc(0)) => {
  const b = Buffer.alloc(5 + body.length);
  b.write(type, 0, 'latin1');
  b.writeInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
};
const ready = (status: 'I' | 'T' | 'E') => msg('Z', Buffer.from(status));

describe('lastReadyStatus', () => {
  it('reads the status of the last ReadyForQuery, after other messages', () => {
    expect(lastReadyStatus(Buffer.concat([msg('1'), msg('2'), msg('C', Buffer.from('INSERT 0 1\0')), ready('T')]))).toBe('T');
    expect(lastReadyStatus(Buffer.concat([ready('T'), msg('C', Buffer.from('COMMIT\0')), ready('I')]))).toBe('I');
    expect(lastReadyStatus(Buffer.concat([msg('E', Buffer.from('SERROR\0\0')), ready('E')]))).toBe('E');
  });

  it('is null mid extended-protocol exchange (no ReadyForQuery yet)', () => {
    expect(lastReadyStatus(Buffer.concat([msg('1'), msg('2')]))).toBeNull();
    expect(lastReadyStatus(new Uint8Array())).toBeNull();
  });

  it('does not mistake a data byte for ReadyForQuery', () => {
    // A DataRow whose payload starts with "Z", then no ReadyForQuery.
    expect(lastReadyStatus(msg('D', Buffer.from('Z\0\0\0\x05I')))).toBeNull();
  });
});

describe('nextMessage', () => {
  it('splits typed messages and waits for a whole one', () => {
    const q = Buffer.from(simpleQuery('select 1'));
    const two = Buffer.concat([q, q.subarray(0, 3)]);
    const first = nextMessage(two, false)!;
    expect(first.message).toEqual(q);
    expect(nextMessage(first.rest, false)).toBeNull();
  });

  it('splits an untyped startup message by its length', () => {
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8, 0);
    startup.writeInt32BE(80877103, 4);
    expect(nextMessage(Buffer.concat([startup, Buffer.from('x')]), true)!.message).toEqual(startup);
  });
});

describe('BackendTurns', () => {
  it('hands the turn over in arrival order', async () => {
    const turns = new BackendTurns();
    const order: number[] = [];
    await turns.acquire();
    const waiters = [1, 2, 3].map((n) => turns.acquire().then(() => order.push(n)));
    turns.release();
    await waiters[0];
    turns.release();
    await waiters[1];
    turns.release();
    await Promise.all(waiters);
    expect(order).toEqual([1, 2, 3]);
  });
});
