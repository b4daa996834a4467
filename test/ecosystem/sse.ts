/** One Server-Sent Event: its `event:` name and its `data:` parsed as JSON. */
export interface ServerSentEvent {
  event: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: tests read payloads by shape.
  data: any;
}

/** The events of an SSE response, as they arrive; comments (Yoga's `:` pings) are skipped. */
export async function* serverSentEvents(response: Response): AsyncGenerator<ServerSentEvent> {
  if (!response.body) throw new Error('no body');
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = /^data: ?(.*)$/m.exec(block)?.[1];
      if (data) yield { event: /^event: (.*)$/m.exec(block)?.[1], data: JSON.parse(data) };
    }
  }
}

/** Subscribes by POST, as clients must once Yoga's CSRF prevention refuses GETs without its header. */
export function subscribe(origin: string, query: string, variables: Record<string, unknown>, signal: AbortSignal) {
  return fetch(`${origin}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query, variables }),
    signal,
  });
}
