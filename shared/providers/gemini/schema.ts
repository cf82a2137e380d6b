// GenerateContentResponse, the body of generateContent and of every streamGenerateContent chunk.
import { z } from 'zod';
import { geminiUsageSchema } from './usage.ts';
import { geminiLogprobsResultSchema } from './logprobs.ts';

const partialArgSchema = z
  .object({
    jsonPath: z.string(),
    stringValue: z.string().optional(),
    numberValue: z.number().optional(),
    boolValue: z.boolean().optional(),
    nullValue: z.unknown().optional(),
    willContinue: z.boolean().optional(),
  })
  .loose();

export const geminiPartSchema = z
  .object({
    text: z.string().optional(),
    thought: z.boolean().optional(),
    thoughtSignature: z.string().optional(),
    functionCall: z
      .object({
        id: z.string().optional(),
        name: z.string().optional(),
        args: z.record(z.string(), z.unknown()).nullable().optional(),
        // Vertex streamFunctionCallArguments: the call arrives in pieces.
        partialArgs: z.array(partialArgSchema).optional(),
        willContinue: z.boolean().optional(),
      })
      .loose()
      .optional(),
  })
  .loose();
export type GeminiResponsePart = z.infer<typeof geminiPartSchema>;
export type GeminiPartialArg = z.infer<typeof partialArgSchema>;

export const geminiResponseSchema = z
  .object({
    candidates: z
      .array(
        z
          .object({
            content: z
              .object({ parts: z.array(geminiPartSchema).optional(), role: z.string().optional() })
              .loose()
              .optional(),
            finishReason: z.string().optional(),
            logprobsResult: geminiLogprobsResultSchema.optional(),
          })
          .loose(),
      )
      .optional(),
    promptFeedback: z.object({ blockReason: z.string().optional() }).loose().optional(),
    usageMetadata: geminiUsageSchema.optional(),
    modelVersion: z.string().optional(),
  })
  .loose();
export type GeminiResponse = z.infer<typeof geminiResponseSchema>;
