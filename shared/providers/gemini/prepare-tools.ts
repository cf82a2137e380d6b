// OpenAI tools / tool_choice -> Gemini functionDeclarations and toolConfig.
import type { ChatCompletionRequest } from '../../protocol/openai.ts';

export function prepareGeminiTools(req: ChatCompletionRequest): { tools?: unknown[]; toolConfig?: unknown } {
  if (!req.tools?.length) return {};
  const functionDeclarations = req.tools.map((t) => {
    const decl: Record<string, unknown> = { name: t.function.name, description: t.function.description ?? '' };
    // parametersJsonSchema takes full JSON Schema (additionalProperties, $defs...), unlike `parameters`.
    if (t.function.parameters && Object.keys(t.function.parameters).length) decl.parametersJsonSchema = t.function.parameters;
    return decl;
  });
  const tc = req.tool_choice;
  let functionCallingConfig: Record<string, unknown> | undefined;
  if (tc === 'none') functionCallingConfig = { mode: 'NONE' };
  else if (tc === 'auto') functionCallingConfig = { mode: 'AUTO' };
  else if (tc === 'required') functionCallingConfig = { mode: 'ANY' };
  else if (tc && typeof tc === 'object') functionCallingConfig = { mode: 'ANY', allowedFunctionNames: [tc.function.name] };
  return {
    tools: [{ functionDeclarations }],
    ...(functionCallingConfig ? { toolConfig: { functionCallingConfig } } : {}),
  };
}
