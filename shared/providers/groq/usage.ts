// Groq streams put the final usage under `x_groq.usage` instead of OpenAI's top-level `usage`.
import { z } from 'zod';

const groqChunkUsage = z.object({ x_groq: z.object({ usage: z.unknown().optional() }).loose().optional() }).loose();

/** The usage object of a Groq stream chunk, wherever Groq put it. */
export function groqStreamUsage(chunk: Record<string, unknown>): unknown {
  return chunk.usage ?? groqChunkUsage.parse(chunk).x_groq?.usage;
}
