import { type ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode, refusalExtensions } from '../errors.ts';

/** graphql-js appends its suggestions to a message; in production they name hidden things. */
const SUGGESTION = /\s*Did you mean [^?]*\?/g;

const SUGGESTION_START = 'Did you mean';

export function withoutSuggestions(message: string): string {
  return message.replace(SUGGESTION, '');
}

/**
 * Errors of a request that never began to execute (a variable of the wrong type, an enum value
 * that does not exist, an unknown operation name) are the client's: graphql-js gives them no
 * code, so clients could not tell them from a failure. They become BAD_USER_INPUT with 400.
 * In production every message loses its "Did you mean …?", validation's included.
 * REST routes run through the same execute, so they get the same codes.
 */
export function useInputErrors({ production }: { production: boolean }): Plugin {
  const rewrite = (result: unknown, setResult: (result: ExecutionResult) => void) => {
    if (!isResult(result) || !result.errors?.length) return;
    const beforeExecution = result.data === undefined;
    if (!beforeExecution && !production) return;
    setResult({
      ...result,
      errors: result.errors.map((error) => {
        const coded = beforeExecution && error.extensions.code === undefined;
        if (!coded && !(production && error.message.includes(SUGGESTION_START))) return error;
        return new GraphQLError(production ? withoutSuggestions(error.message) : error.message, {
          nodes: error.nodes,
          path: error.path,
          originalError: error.originalError,
          extensions: coded
            ? { ...error.extensions, ...refusalExtensions(ErrorCode.BAD_USER_INPUT) }
            : error.extensions,
        });
      }),
    });
  };
  return {
    // Armor's suggestion blocker covers fields only; an enum value's ("NEWES") got through.
    onValidate: () =>
      production
        ? ({ result, setResult }) => {
            if (!result.some((error) => error.message.includes(SUGGESTION_START))) return;
            setResult(result.map((error) => (error.message.includes(SUGGESTION_START) ? unsuggested(error) : error)));
          }
        : undefined,
    onExecute: () => ({ onExecuteDone: ({ result, setResult }) => rewrite(result, setResult) }),
    onSubscribe: () => ({ onSubscribeResult: ({ result, setResult }) => rewrite(result, setResult) }),
  };
}

function unsuggested(error: GraphQLError): GraphQLError {
  return new GraphQLError(withoutSuggestions(error.message), {
    nodes: error.nodes,
    path: error.path,
    originalError: error.originalError,
    extensions: error.extensions,
  });
}

function isResult(result: unknown): result is ExecutionResult {
  return typeof result === 'object' && result !== null && !(Symbol.asyncIterator in result);
}
