// An OpenAI-compatible upstream declared in the config file, no code: `together` (here the OpenAI
// simulator under its /v1 prefix) routes as `together/<model>`, streams, bills under its own name,
// shows in /v1/models and has its own NATS consumer. The official openai SDK is the client.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, waitForUsageRow, type Stack } from '../harness/stack.ts';
import { consumerNames, STREAMS } from '../../shared/nats/topology.ts';

const CONFIG = `
providers:
  together:
    type: openai-compatible
    base_url: \${TOGETHER_BASE_URL}
    api_keys:
      - key: \${TOGETHER_API_KEY}
    models: [llama-3.3-70b, llama-3.1-8b]
models:
  small: { targets: [{ model: together/llama-3.3-70b }] }
prices:
  together/llama-3.3-70b: { input: 1, output: 3 }
`;

let stack: Stack;
let client: OpenAI;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'sy-openai-compatible-'));
  const configPath = join(dir, 'switchyard.yaml');
  writeFileSync(configPath, CONFIG);
  stack = await startStack({
    env: { SWITCHYARD_CONFIG: configPath, WORKER_MAX_RETRIES: '0' },
    providerEnv: (mockUrl) => ({ TOGETHER_BASE_URL: `${mockUrl}/v1`, TOGETHER_API_KEY: 'sk-together-test' }),
  });
  client = new OpenAI({ apiKey: stack.apiKey, baseURL: `${stack.url}/v1`, maxRetries: 0 });
}, 60_000);
afterAll(async () => stack?.close());

describe('a config-declared OpenAI-compatible provider', () => {
  it('chat: routed to its base URL with its own key, billed under its name', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'together/llama-3.3-70b', messages: [{ role: 'user', content: 'hi\nmock:{"text":"bonjour le monde"}' }] })
      .withResponse();
    expect(data.model).toBe('together/llama-3.3-70b');
    expect(data.choices[0]!.message.content).toBe('bonjour le monde');
    expect(data.usage).toMatchObject({ completion_tokens: 3 });
    expect(response.headers.get('x-switchyard-provider')).toBe('together');

    const upstream = stack.mock.requests.at(-1)!;
    expect(upstream.path).toBe('/v1/chat/completions');
    expect((upstream.body as { model: string }).model).toBe('llama-3.3-70b');
    expect(upstream.headers.authorization).toBe('Bearer sk-together-test');

    const row = await waitForUsageRow(stack.db, response.headers.get('x-request-id')!);
    expect(row).toMatchObject({
      status: 'ok',
      provider: 'together',
      upstream_model: 'llama-3.3-70b',
      input_tokens: data.usage!.prompt_tokens,
      output_tokens: 3,
    });
    // The file's price for the declared provider's model: (prompt * 1 + 3 * 3) / 1e6 USD.
    expect(Number(row.cost_usd)).toBeCloseTo((data.usage!.prompt_tokens * 1 + 3 * 3) / 1e6, 9);
  });

  it('streams every token, then usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'together/llama-3.1-8b',
      stream: true,
      stream_options: { include_usage: true },
      messages: [{ role: 'user', content: 'count\nmock:{"tokens":12,"itl_ms":1}' }],
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | null | undefined;
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      if (chunk.usage) usage = chunk.usage;
      expect(chunk.model).toBe('together/llama-3.1-8b');
    }
    expect(text).toBe(Array.from({ length: 12 }, (_, i) => `tok${i}`).join(' '));
    expect(finish).toBe('stop');
    expect(usage).toMatchObject({ completion_tokens: 12 });
  });

  it('an alias may target it', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'small', messages: [{ role: 'user', content: 'hi\nmock:{"text":"via alias"}' }] })
      .withResponse();
    expect(data.choices[0]!.message.content).toBe('via alias');
    expect(response.headers.get('x-switchyard-provider')).toBe('together');
  });

  it('lists its models in /v1/models, beside the built-in providers', async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toEqual(expect.arrayContaining(['together/llama-3.3-70b', 'together/llama-3.1-8b', 'openai/gpt-4o-mini']));
    const models = await client.models.list();
    expect(models.data.find((m) => m.id === 'together/llama-3.3-70b')?.owned_by).toBe('together');
  });

  it('has its own request subject and worker consumer', async () => {
    const info = await stack.runtime.nats.jsm.consumers.info(STREAMS.requests, consumerNames.worker('together', 'interactive'));
    expect(info.config.filter_subject).toMatch(/together/);
  });

  it('an undeclared provider prefix is still model_not_found', async () => {
    const err = await client.chat.completions
      .create({ model: 'togetherr/llama-3.3-70b', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('model_not_found');
  });
});
