/**
 * The two ways a read is left to ordinary execution, which then gives exactly today's answer.
 * Both are caught by the plugin (src/reads/plugin.ts); any other error is a bug, logged.
 */

/** At compile time: a document, or a part of it, that the compiler does not plan. */
export class Unsupported extends Error {}

/** At run time: this request's answer would be an error (a malformed id, a missing row). */
export class NotCompilable extends Error {}
