// Errors Fastify and Node answer before a route or the app's error handler runs: a URL that does
// not decode, and HTTP the parser refuses (bad Content-Length, bad header, smuggling attempts).
// Their built-in bodies are not the OpenAI envelope, so both are answered here instead.
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from '../../shared/runtime/node-http.ts';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../../shared/protocol/errors.ts';

/** Fastify's `frameworkErrors` option: FST_ERR_BAD_URL and friends, with a request id like any answer. */
export function answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const status = err.statusCode && err.statusCode < 500 ? err.statusCode : 400;
  const apiErr =
    err.code === 'FST_ERR_BAD_URL'
      ? new ApiError(400, 'The request URL is not valid: it holds a malformed percent-encoding.', { code: 'invalid_url' })
      : new ApiError(status, 'The request could not be routed.', { code: 'invalid_request' });
  void reply.code(apiErr.status).header('x-request-id', req.id).send(apiErr.toBody());
}

/** Fastify's `clientErrorHandler`: the HTTP parser gave up, so the answer is written to the socket raw. */
export function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  // A reset connection or one already answered has nobody left to tell.
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable) return;
  const [status, apiErr] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, new ApiError(408, 'The request was not received in time.', { code: 'request_timeout' })]
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, new ApiError(431, 'The request headers are too large.', { code: 'headers_too_large' })]
        : [
            400,
            new ApiError(400, 'The request is not valid HTTP/1.1 (malformed request line, header or body framing).', {
              code: 'invalid_http',
            }),
          ];
  socket.end(rawErrorResponse(status, apiErr));
}

/**
 * The `ws` server's `wsClientError` event: a malformed WebSocket handshake (bad key, version,
 * subprotocol list), which `ws` would otherwise answer with a plain-text body.
 */
export function answerHandshakeError(err: Error, socket: Duplex): void {
  if (socket.destroyed || !socket.writable) return;
  socket.end(rawErrorResponse(400, new ApiError(400, `Invalid WebSocket handshake: ${err.message}.`, { code: 'invalid_handshake' })));
}

/** A whole HTTP/1.1 error response for a socket no Fastify reply exists for. */
function rawErrorResponse(status: number, apiErr: ApiError): string {
  const body = JSON.stringify(apiErr.toBody());
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nx-request-id: req_${randomUUID().replaceAll('-', '')}\r\n` +
    `connection: close\r\n\r\n${body}`
  );
}
