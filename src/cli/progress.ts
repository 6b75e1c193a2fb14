/**
 * One-line progress on stderr for long work: rewritten in place on a terminal, printed every few
 * seconds otherwise (logs, CI, SLURM).
 *
 * @module
 */

export { formatDuration } from "../util/format.ts";

const encoder = new TextEncoder();

/** A progress line that redraws at most every `intervalMs` (and always on `done`). */
export class ProgressLine {
  #last = 0;
  #interactive: boolean;
  #intervalMs: number;

  constructor(intervalMs?: number) {
    this.#interactive = Deno.stderr.isTerminal();
    this.#intervalMs = intervalMs ?? (this.#interactive ? 100 : 5000);
  }

  /** Shows `text` (if the interval has passed or `force`). */
  update(text: string, force = false): void {
    const now = performance.now();
    if (!force && now - this.#last < this.#intervalMs) return;
    this.#last = now;
    if (this.#interactive) Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${text}`));
    else Deno.stderr.writeSync(encoder.encode(`${text}\n`));
  }

  /** Ends the line (terminal) so that later output starts on a new one. */
  done(text?: string): void {
    if (text !== undefined) this.update(text, true);
    if (this.#interactive) Deno.stderr.writeSync(encoder.encode("\n"));
  }
}

/** A text bar of `width` cells for a fraction in [0, 1]. */
export function bar(fraction: number, width = 20): string {
  const filled = Math.round(Math.min(1, Math.max(0, fraction)) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}
