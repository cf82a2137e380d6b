// A fixed piece of CPU work whose time tracks this machine's speed, for long runs (bench/soak.ts):
// the machine here drifts by a third within an hour, so a latency that creeps over a soak means
// nothing until it is set against something that does not change. The work is JavaScript like the
// broker's (JSON in and out, string building), on one thread, deterministic: its checksum is fixed.

const DOC = JSON.stringify({
  model: 'openai/gpt-4o-mini',
  messages: Array.from({ length: 8 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: `turn ${i} `.repeat(12) })),
  usage: { prompt_tokens: 123, completion_tokens: 45, total_tokens: 168 },
});

/** One pass of the work: parse, touch and re-serialise the document `rounds` times. */
function work(rounds: number): number {
  let checksum = 0;
  for (let i = 0; i < rounds; i++) {
    const doc = JSON.parse(DOC) as { messages: Array<{ content: string }>; usage: { total_tokens: number } };
    doc.usage.total_tokens += i % 7;
    checksum = (checksum + JSON.stringify(doc).length + doc.messages[i % 8]!.content.length) % 1_000_003;
  }
  return checksum;
}

/** The median time of `passes` passes of the fixed work, in ms, and its checksum (the same every call). */
export function machineGauge(passes = 5, rounds = 2_000): { ms: number; checksum: number } {
  const times: number[] = [];
  let checksum = 0;
  for (let p = 0; p < passes; p++) {
    const t = performance.now();
    checksum = work(rounds);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: +times[Math.floor(passes / 2)]!.toFixed(2), checksum };
}
