// OpenAI `input_audio` and `file` content parts -> Gemini inlineData. Gemini reads audio and documents
// (PDF, text) inline; an OpenAI file id means nothing to it and is refused by name.
import { errors } from '../../protocol/errors.ts';
import { AdapterError } from '../types.ts';
import type { GeminiPart } from './convert-messages.ts';

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)(?:;[\w=.+-]+)*;base64,([A-Za-z0-9+/=\s]+)$/;

/** The Gemini part for an audio or file part; null for any other part (text and images go elsewhere). */
export function geminiMediaPart(part: unknown, param: string): GeminiPart | null {
  const p = part as {
    type?: unknown;
    input_audio?: { data?: unknown; format?: unknown };
    file?: { file_data?: unknown; file_id?: unknown };
  };
  if (p?.type === 'input_audio') {
    const { data, format } = p.input_audio ?? {};
    if (typeof data !== 'string' || data === '')
      throw AdapterError.from(errors.invalidField(`${param}.input_audio.data`, 'base64 audio is required'));
    return { inlineData: { mimeType: format === 'mp3' ? 'audio/mp3' : 'audio/wav', data } };
  }
  if (p?.type === 'file') {
    const { file_data: fileData, file_id: fileId } = p.file ?? {};
    if (typeof fileData === 'string') {
      const m = DATA_URL.exec(fileData);
      if (!m)
        throw AdapterError.from(errors.invalidField(`${param}.file.file_data`, 'expected a base64 data URL (data:<mime>;base64,...)'));
      return { inlineData: { mimeType: m[1]!, data: m[2]!.replace(/\s/g, '') } };
    }
    if (fileId !== undefined)
      throw AdapterError.from(errors.unsupportedParameter('gemini', `${param}.file.file_id`, 'an OpenAI file id; send file_data'));
    throw AdapterError.from(errors.invalidField(`${param}.file`, 'file_data is required'));
  }
  return null;
}
