import { Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { type ForwardTarget, forwardRequest } from '../http/forward.ts';
import { CLIENT_ADDRESS_HEADER } from './role.ts';

/** Kept open between requests: a read worker hands over every mutation it receives. */
export const toWriter = new Agent({ keepAlive: true, maxSockets: 256 });

/** The writer of this host, over its unix socket. */
const writerAt = (socketPath: string): ForwardTarget => ({
  name: 'the writer of this host',
  address: { socketPath },
  agent: toWriter,
  // The writer counts mutations per client address; over the socket it would see none.
  clientHeaders: (req) => ({ [CLIENT_ADDRESS_HEADER]: req.socket.remoteAddress ?? '' }),
  outcomeUnknownOnBreak: false,
});

/**
 * Hands a request to the writer over its unix socket (the local machine, not the network) and
 * sends back its answer as it came. `alreadyRead`: the part of the body the caller read to
 * decide; the rest is piped after it.
 */
export function forwardToWriter(
  req: IncomingMessage,
  res: ServerResponse,
  socketPath: string,
  alreadyRead: Buffer[] = [],
): void {
  forwardRequest(req, res, writerAt(socketPath), { alreadyRead });
}
