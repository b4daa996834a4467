import { BoundedCache } from './bounded-cache.ts';

/**
 * Longer documents are never remembered, by any cache keyed on a document's text: parsed,
 * validated, weighed and run each time, and never compiled (src/reads/plugin.ts). A document
 * this long is no client's query but one long literal (a ~900 KB string is under every other
 * limit): kept, 230 of them held 430 MB; compiled, each cost 0.5-1 s of CPU.
 */
export const MAX_REMEMBERED_DOCUMENT_LENGTH = 64 * 1024;

/** What a parsed document holds beside its text (nodes, their locations, the source kept by them). */
const PARSED_BYTES_PER_CHARACTER = 12;

/**
 * A cache for Yoga's parser (documents and parse errors, by text), bounded by count and by an
 * estimate of bytes, that skips documents past MAX_REMEMBERED_DOCUMENT_LENGTH. Yoga's own is
 * bounded by count alone (1,024 documents of any size).
 */
export function documentTextCache<V>(maxEntries: number, maxBytes: number) {
  const cache = new BoundedCache<V>(maxEntries, maxBytes);
  return {
    get: (text: string) => cache.get(text),
    set(text: string, value: V) {
      if (text.length <= MAX_REMEMBERED_DOCUMENT_LENGTH)
        cache.set(text, value, text.length * PARSED_BYTES_PER_CHARACTER);
    },
  };
}
