// Content guardrails without servers: checksums, scanners, the streaming window, config parsing.
import { describe, expect, it } from 'vitest';
import { parseConfigFile, ConfigFileError } from '../../shared/config/file.ts';
import { guardrailDefinitionSchema, type GuardrailDefinition } from '../../shared/guardrails/definitions.ts';
import { Guardrail } from '../../shared/guardrails/guardrail.ts';
import { ibanValid, luhnValid } from '../../shared/guardrails/pii.ts';
import { checkRequest, GuardrailRegistry } from '../../shared/guardrails/registry.ts';
import { textSlots, toolNames } from '../../shared/guardrails/request-text.ts';
import { blocklistScanner, keywordPrefixAtEnd, piiScanner } from '../../shared/guardrails/scanners.ts';
import { StagePipeline, WindowStage, type TextStage } from '../../shared/guardrails/stream-window.ts';

const def = (raw: Record<string, unknown>): GuardrailDefinition => guardrailDefinitionSchema.parse(raw);
const pii = (extra: Record<string, unknown> = {}) =>
  def({ name: 'pii', kind: 'pii', mode: ['pre_call', 'post_call'], ...extra }) as Extract<GuardrailDefinition, { kind: 'pii' }>;
const ctx = { requestId: 'req_1', tenantId: 't', keyId: null, model: 'openai/gpt-4o-mini' };

/** Pushes chunks through a stage and returns what the client would see, plus the violation if any. */
async function streamThrough(stage: TextStage, chunks: string[]) {
  let out = '';
  const released: string[] = [];
  for (const c of chunks) {
    const r = stage.push(c);
    released.push(r.text);
    out += r.text;
    if (r.violation) return { out, released, violation: r.violation };
  }
  const end = await stage.end();
  return { out: out + end.text, released, violation: end.violation ?? null };
}

describe('checksums', () => {
  it('Luhn accepts real test card numbers and refuses a changed digit', () => {
    expect(luhnValid('4111 1111 1111 1111')).toBe(true);
    expect(luhnValid('5555-5555-5555-4444')).toBe(true);
    expect(luhnValid('378282246310005')).toBe(true);
    expect(luhnValid('4111 1111 1111 1112')).toBe(false);
    expect(luhnValid('1234')).toBe(false);
  });

  it('IBAN mod-97 accepts valid IBANs (with and without spaces) and refuses a changed digit', () => {
    expect(ibanValid('DE89 3704 0044 0532 0130 00')).toBe(true);
    expect(ibanValid('GB82WEST12345698765432')).toBe(true);
    expect(ibanValid('NL91ABNA0417164300')).toBe(true);
    expect(ibanValid('DE89 3704 0044 0532 0130 01')).toBe(false);
    expect(ibanValid('XX00')).toBe(false);
  });
});

describe('PII scanner', () => {
  const scanner = piiScanner(pii({ patterns: { employee_id: 'EMP-[0-9]{6}' } }));
  const labels = (t: string) => scanner.scan(t).map((s) => s.label);

  it('finds each entity kind and an operator pattern', () => {
    expect(labels('mail ada@example.com now')).toEqual(['email']);
    expect(labels('card 4111 1111 1111 1111.')).toEqual(['credit_card']);
    expect(labels('iban DE89 3704 0044 0532 0130 00 ok')).toEqual(['iban']);
    expect(labels('call +49 30 1234 5678 today')).toEqual(['phone']);
    expect(labels('key sk-proj-abcdefghijklmnopqrstuvwx and AKIAABCDEFGHIJKLMNOP')).toEqual(['secret', 'secret']);
    expect(labels('token ghp_' + 'a'.repeat(36))).toEqual(['secret']);
    expect(labels('id EMP-123456')).toEqual(['employee_id']);
  });

  it('leaves numbers that fail the checksum alone', () => {
    expect(labels('order 4111 1111 1111 1112')).not.toContain('credit_card');
    expect(labels('ref DE89 3704 0044 0532 0130 01')).not.toContain('iban');
  });
});

describe('streaming window', () => {
  it('masks a PII value split across chunks, never releasing any part of it', async () => {
    const stage = new WindowStage({ name: 'pii', scanner: piiScanner(pii()), onFail: 'mask' });
    const chunks = ['Write to ad', 'a.lovel', 'ace@exam', 'ple.com please, ', 'or card 4111 11', '11 1111 1111', ' thanks'];
    const { out, released } = await streamThrough(stage, chunks);
    expect(out).toBe('Write to [EMAIL] please, or card [CREDIT_CARD] thanks');
    for (const piece of released) {
      expect(piece).not.toMatch(/lovel|exam|1111/);
    }
  });

  it('holds back exactly the longest possible match and releases the rest at once', () => {
    const scanner = piiScanner(pii({ max_match_chars: 6 }));
    const stage = new WindowStage({ name: 'pii', scanner, onFail: 'mask' });
    expect(stage.push('0123456789').text).toBe('0123');
    expect(stage.heldChars).toBe(6);
    expect(stage.push('ab').text).toBe('45');
  });

  it('a keywords-only blocklist holds back only a possible beginning of a keyword', () => {
    const stage = new WindowStage({
      name: 'bl',
      scanner: blocklistScanner(def({ name: 'bl', kind: 'blocklist', mode: 'post_call', keywords: ['falcon', 'secret plan'] }) as never),
      onFail: 'block',
    });
    expect(stage.push('nothing to hold here. ').text).toBe('nothing to hold here. ');
    expect(stage.push('the Fal').text).toBe('the ');
    expect(stage.heldChars).toBe(3);
    expect(stage.push('l of the SECRET').text).toBe('Fall of the ');
    expect(stage.push(' pl').text).toBe('');
    expect(stage.push('ace').text).toBe('SECRET place');
    expect(keywordPrefixAtEnd('xsec', ['secret plan'])).toBe(3);
    expect(keywordPrefixAtEnd('falco', ['falcon'])).toBe(5);
    expect(keywordPrefixAtEnd('falcon', ['falcon'])).toBe(0); // whole: the scan has seen it
  });

  it('blocks a keyword split across chunks before any of it is released', async () => {
    const scanner = blocklistScanner(def({ name: 'bl', kind: 'blocklist', mode: 'post_call', keywords: ['Project Falcon'] }) as never);
    const stage = new WindowStage({ name: 'bl', scanner, onFail: 'block' });
    const { out, violation } = await streamThrough(stage, ['The plan is pro', 'ject fal', 'con, as agreed']);
    expect(violation).toEqual({ guardrail: 'bl', reason: 'matched bl' });
    expect(out.toLowerCase()).not.toContain('pro');
  });

  it('a pipeline feeds one stage into the next', async () => {
    const blocker = new WindowStage({
      name: 'bl',
      scanner: blocklistScanner(def({ name: 'bl', kind: 'blocklist', mode: 'post_call', keywords: ['secret plan'] }) as never),
      onFail: 'block',
    });
    const masker = new WindowStage({ name: 'pii', scanner: piiScanner(pii()), onFail: 'mask' });
    const ok = await streamThrough(new StagePipeline([masker, blocker]), ['mail bob@', 'example.org', ' done']);
    expect(ok.out).toBe('mail [EMAIL] done');
  });
});

describe('regex engine', () => {
  it('a pattern that backtracks catastrophically elsewhere runs in linear time on RE2', () => {
    const scanner = blocklistScanner(def({ name: 'evil', kind: 'blocklist', mode: 'pre_call', patterns: ['(a+)+$b'] }) as never);
    const input = 'a'.repeat(50_000) + '!';
    const t = performance.now();
    expect(scanner.scan(input)).toEqual([]);
    expect(performance.now() - t).toBeLessThan(2_000);
  });

  it('refuses patterns RE2 cannot run (backreferences) at load, naming file:line:col', () => {
    const text = ['guardrails:', '  - name: bad', '    kind: blocklist', '    mode: pre_call', "    patterns: ['(a)\\1']"].join('\n');
    let err: ConfigFileError | null = null;
    try {
      parseConfigFile(text, { source: 'g.yaml' });
    } catch (e) {
      err = e as ConfigFileError;
    }
    expect(err).toBeInstanceOf(ConfigFileError);
    expect(err!.message).toMatch(/g\.yaml:5:\d+: guardrails\[0\]\.patterns\[0\]: not a valid RE2 pattern/);
  });
});

describe('config file', () => {
  it('parses guardrails and default_guardrails; a default must name a defined guardrail', () => {
    const ok = parseConfigFile(
      ['guardrails:', '  - {name: pii, kind: pii, mode: [pre_call, post_call]}', 'default_guardrails: [pii]'].join('\n'),
    );
    expect(ok.default_guardrails).toEqual(['pii']);
    expect(ok.guardrails![0]).toMatchObject({ name: 'pii', kind: 'pii', on_fail: 'mask', mode: ['pre_call', 'post_call'] });
    expect(() => parseConfigFile('guardrails: []\ndefault_guardrails: [nope]', { source: 'd.yaml' })).toThrow(
      /d\.yaml:2:\d+: default_guardrails\[0\]: no guardrail named 'nope'/,
    );
    expect(() => parseConfigFile('guardrails:\n  - {name: j, kind: json_schema, mode: pre_call}')).toThrow(/post_call only/);
    expect(() => parseConfigFile('guardrails:\n  - {name: w, kind: webhook, mode: pre_call, url: ftp://x}')).toThrow(/http\(s\) URL/);
  });

  it('a registry is rebuilt by replace() and resolves attachments in order', () => {
    const cfg = (names: string[]) =>
      parseConfigFile(
        [
          'guardrails:',
          ...names.map((n) => `  - {name: ${n}, kind: blocklist, mode: pre_call, keywords: [x]}`),
          `default_guardrails: [${names[0]}]`,
        ].join('\n'),
      );
    const reg = new GuardrailRegistry(cfg(['a', 'b']));
    expect(reg.attachedTo({})).toEqual(['a']);
    const unknown: string[] = [];
    expect(reg.attachedTo({ tenantGuardrails: ['b', 'zz'], keyGuardrails: ['a'] }, (n) => unknown.push(n))).toEqual(['a', 'b']);
    expect(unknown).toEqual(['zz']);
    reg.replace(cfg(['c']));
    expect(reg.has('a')).toBe(false);
    expect(reg.attachedTo({ tenantGuardrails: ['b'] })).toEqual(['c']);
  });

  it('the reload hook builds the new definitions first and swaps them in only at the switch-over', async () => {
    const reg = new GuardrailRegistry(parseConfigFile('guardrails:\n  - {name: a, kind: blocklist, mode: pre_call, keywords: [x]}\n'));
    const hook = reg.reloadHook('test guardrails');
    expect(hook.name).toBe('test guardrails');
    const next = parseConfigFile('guardrails:\n  - {name: b, kind: blocklist, mode: pre_call, keywords: [y]}\n');
    const switchOver = await hook.prepare(next);
    expect(reg.has('a')).toBe(true); // nothing changed yet: another hook may still refuse the file
    switchOver();
    expect([reg.has('a'), reg.has('b')]).toEqual([false, true]);
    // A definition that cannot be built (a pattern RE2 refuses, past the file parser) refuses the reload.
    const bad = {
      name: 'bad',
      kind: 'blocklist',
      mode: ['pre_call'],
      on_fail: 'block',
      keywords: [],
      patterns: ['(a)\\1'],
      max_match_chars: 64,
    };
    expect(() => hook.prepare({ guardrails: [bad] } as never)).toThrow(/invalid escape/);
    expect(reg.has('b')).toBe(true);
  });
});

describe('request checks', () => {
  it('pii masks message text and text parts in place; blocklist blocks; max_input_tokens and tools refuse', async () => {
    const body = {
      messages: [
        { role: 'user', content: 'I am ada@example.com' },
        { role: 'user', content: [{ type: 'text', text: 'card 4111111111111111' }] },
      ],
      tools: [{ type: 'function', function: { name: 'shell' } }],
    };
    const masked = await checkRequest([new Guardrail(pii())], 'pre_call', body, ctx);
    expect(masked).toEqual({ masked: true, violation: null });
    expect(body.messages[0]!.content).toBe('I am [EMAIL]');
    expect(body.messages[1]!.content).toEqual([{ type: 'text', text: 'card [CREDIT_CARD]' }]);

    const blocked = await checkRequest(
      [new Guardrail(def({ name: 'bl', kind: 'blocklist', mode: 'pre_call', keywords: ['EMAIL'] }))],
      'pre_call',
      body,
      ctx,
    );
    expect(blocked.violation).toEqual({ guardrail: 'bl', reason: 'matched bl' });

    const tokens = await checkRequest(
      [new Guardrail(def({ name: 'mx', kind: 'max_input_tokens', mode: 'pre_call', max_tokens: 2 }))],
      'pre_call',
      body,
      ctx,
    );
    expect(tokens.violation?.reason).toMatch(/more than the 2 allowed/);

    const tools = await checkRequest(
      [new Guardrail(def({ name: 'tl', kind: 'tools', mode: 'pre_call', allow: ['search'] }))],
      'pre_call',
      body,
      ctx,
    );
    expect(tools.violation?.reason).toBe("tool 'shell' is not allowed");
    const logOnly = await checkRequest(
      [new Guardrail(def({ name: 'tl', kind: 'tools', mode: 'pre_call', deny: ['shell'], on_fail: 'log' }))],
      'pre_call',
      body,
      ctx,
    );
    expect(logOnly.violation).toBeNull();
  });

  it('json_schema checks the answer against the request schema', async () => {
    const g = new Guardrail(def({ name: 'js', kind: 'json_schema', mode: 'post_call' }));
    const body = {
      response_format: {
        type: 'json_schema',
        json_schema: { schema: { type: 'object', required: ['n'], properties: { n: { type: 'number' } } } },
      },
    };
    expect((await streamThrough(g.outputStage(body, ctx)!, ['{"n":', '1}'])).out).toBe('{"n":1}');
    expect((await streamThrough(g.outputStage(body, ctx)!, ['{"n":"x"}'])).violation?.reason).toMatch(/does not match the JSON schema/);
    expect((await streamThrough(g.outputStage(body, ctx)!, ['not json'])).violation?.reason).toBe('the answer is not valid JSON');
    expect(g.outputStage({}, ctx)).toBeNull();
  });
});

describe('deploy/switchyard.example.yaml', () => {
  it('its commented guardrails example parses once uncommented', async () => {
    const { readFileSync } = await import('node:fs');
    const text = readFileSync(new URL('../../deploy/switchyard.example.yaml', import.meta.url), 'utf8');
    const block = text.slice(text.indexOf('# guardrails:'));
    const yaml = block
      .split('\n')
      .filter((l) => l.startsWith('# '))
      .map((l) => l.slice(2))
      .join('\n');
    const cfg = parseConfigFile(yaml, { env: {} });
    expect(cfg.guardrails!.map((g) => `${g.name}:${g.kind}`)).toEqual([
      'no-internal-projects:blocklist',
      'pii:pii',
      'policy-service:webhook',
    ]);
    expect(cfg.default_guardrails).toEqual(['no-internal-projects', 'pii']);
  });
});

describe('textSlots on every surface', () => {
  const texts = (body: object) => textSlots(body).map((s) => s.text);

  it('Anthropic system: a string, or text blocks', () => {
    const str = { system: 'sys', messages: [{ role: 'user', content: 'hi' }] };
    expect(texts(str)).toEqual(['sys', 'hi']);
    textSlots(str)[0]!.set('S');
    expect(str.system).toBe('S');
    const blocks = { system: [{ type: 'text', text: 'a' }, { type: 'image' }, { type: 'text', text: 'b' }] };
    textSlots(blocks)[1]!.set('B');
    expect(blocks.system).toEqual([{ type: 'text', text: 'a' }, { type: 'image' }, { type: 'text', text: 'B' }]);
  });

  it("tool_result blocks' nested content: a string, or text blocks", () => {
    const body = {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 't1', content: 'result one' },
            { type: 'tool_result', tool_use_id: 't2', content: [{ type: 'text', text: 'result two' }, { type: 'image' }] },
            { type: 'text', text: 'after' },
          ],
        },
      ],
    };
    expect(texts(body)).toEqual(['result one', 'result two', 'after']);
    for (const s of textSlots(body)) s.set(s.text.toUpperCase());
    const parts = body.messages[0]!.content as Array<Record<string, unknown>>;
    expect(parts[0]!.content).toBe('RESULT ONE');
    expect(parts[1]!.content).toEqual([{ type: 'text', text: 'RESULT TWO' }, { type: 'image' }]);
    expect(parts[2]!.text).toBe('AFTER');
  });

  it('embeddings input: a string or strings; token ids carry no text', () => {
    const one = { input: 'ada@example.com' };
    textSlots(one)[0]!.set('[EMAIL]');
    expect(one.input).toBe('[EMAIL]');
    const many = { input: ['a', 'b'] };
    textSlots(many)[1]!.set('B');
    expect(many.input).toEqual(['a', 'B']);
    expect(texts({ input: [1, 2, 3] })).toEqual([]);
    expect(texts({ input: [[1, 2], [3]] })).toEqual([]);
  });

  it('tool names: OpenAI function tools and Anthropic top-level names', () => {
    expect(
      toolNames({ tools: [{ type: 'function', function: { name: 'search' } }, { name: 'shell', input_schema: {} } as never] }),
    ).toEqual(['search', 'shell']);
  });

  it('pii masks an Anthropic body in place', async () => {
    const body = {
      system: 'Operator ada@example.com',
      messages: [{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'bob@example.org' }] }],
    };
    expect((await checkRequest([new Guardrail(pii())], 'pre_call', body, ctx)).masked).toBe(true);
    expect(body.system).toBe('Operator [EMAIL]');
    expect((body.messages[0]!.content[0] as { content: string }).content).toBe('[EMAIL]');
  });
});
