// The authenticated caller of a request. Routes behind the `authenticate` hook read it through
// principalOf instead of `req.principal!`: a route registered without the hook by mistake answers the
// OpenAI 401 envelope instead of crashing on `undefined` with a 500.
import type { FastifyRequest } from 'fastify';
import type { KeyPrincipal } from '../../shared/db/api-keys.ts';
import { errors } from '../../shared/protocol/errors.ts';

export function principalOf(req: FastifyRequest): KeyPrincipal {
  if (!req.principal) throw errors.missingKey();
  return req.principal;
}
