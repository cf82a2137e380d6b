// OpenAI tools / tool_choice / parallel_tool_calls -> Anthropic tools and tool_choice.
import type { ChatCompletionRequest } from '../../protocol/openai.ts';

export interface AnthropicTool {
  name: string;
  description?: string;
  input_schema: Record<string, unknown>;
}

export type AnthropicToolChoice =
  | { type: 'auto' | 'any'; disable_parallel_tool_use?: boolean }
  | { type: 'tool'; name: string; disable_parallel_tool_use?: boolean }
  | { type: 'none' };

export function prepareAnthropicTools(req: ChatCompletionRequest): { tools?: AnthropicTool[]; tool_choice?: AnthropicToolChoice } {
  if (!req.tools?.length) return {};
  const tools = req.tools.map((t) => {
    const tool: AnthropicTool = { name: t.function.name, input_schema: t.function.parameters ?? { type: 'object', properties: {} } };
    if (t.function.description) tool.description = t.function.description;
    return tool;
  });
  let choice: AnthropicToolChoice | undefined;
  const tc = req.tool_choice;
  if (tc === 'none') choice = { type: 'none' };
  else if (tc === 'required') choice = { type: 'any' };
  else if (tc === 'auto') choice = { type: 'auto' };
  else if (tc && typeof tc === 'object') choice = { type: 'tool', name: tc.function.name };
  if (req.parallel_tool_calls === false && choice?.type !== 'none') {
    choice = { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true } as AnthropicToolChoice;
  }
  return choice ? { tools, tool_choice: choice } : { tools };
}
