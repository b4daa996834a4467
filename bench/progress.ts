/**
 * What the bench is doing, on stderr (stdout carries the table): a line rewritten in place on a
 * terminal, a line per step otherwise (CI logs).
 */
export class Progress {
  #startedAt = performance.now();
  #live = process.stderr.isTTY === true;
  #pending = false;

  #prefix() {
    const seconds = Math.round((performance.now() - this.#startedAt) / 1000);
    return `[bench ${String(Math.floor(seconds / 60)).padStart(2, '0')}:${String(seconds % 60).padStart(2, '0')}]`;
  }

  /** A step that is done, or starting. */
  step(message: string) {
    if (this.#pending) process.stderr.write('\n');
    this.#pending = false;
    process.stderr.write(`${this.#prefix()} ${message}\n`);
  }

  /** A running figure, shown only on a terminal. */
  update(message: string) {
    if (!this.#live) return;
    process.stderr.write(`\r\x1b[2K${this.#prefix()} ${message}`);
    this.#pending = true;
  }
}
