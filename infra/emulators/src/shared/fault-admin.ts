/** The `/_emulator/faults` admin endpoint, the same on every emulator. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { FAULT_KINDS, type Faults } from './faults.js';
import { readBody, sendJson } from './http.js';
import { asObject, optInteger, parseJson, reqEnum } from './validate.js';

/** Answers POST (queue faults) and DELETE (clear them) on `/_emulator/faults`; false for any other request. */
export async function handleFaultAdmin(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  faults: Faults,
): Promise<boolean> {
  if (path !== '/_emulator/faults') return false;
  if (req.method === 'POST') {
    const o = asObject(parseJson(await readBody(req)), 'the request body');
    const kind = reqEnum(o, 'kind', FAULT_KINDS);
    const count = optInteger(o, 'count');
    const retryAfterSeconds = optInteger(o, 'retryAfterSeconds');
    faults.inject(kind, {
      ...(count === undefined ? {} : { count }),
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    });
    sendJson(res, 200, { pending: faults.pending });
    return true;
  }
  if (req.method === 'DELETE') {
    faults.clear();
    sendJson(res, 200, { pending: 0 });
    return true;
  }
  return false;
}
