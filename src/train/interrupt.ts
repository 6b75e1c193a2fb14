/**
 * SIGTERM (SLURM's preemption and time-limit signal) and SIGINT (Ctrl-C) as an `AbortSignal` for
 * `train`: the first one lets the step in flight finish and a checkpoint of it be written; a second
 * Ctrl-C exits at once (the last checkpoint and the metrics flushed with it stay consistent). Repeated
 * SIGTERMs change nothing: a scheduler may send one to the job's shell and one to every process.
 *
 * @example
 * ```ts
 * import { listenForInterrupts } from "./interrupt.ts";
 * const interrupts = listenForInterrupts();
 * try {
 *   // const result = await train(gpu, { ...options, signal: interrupts.signal });
 *   // if (result.interrupted) Deno.exit(interrupts.exitCode);
 * } finally {
 *   interrupts.dispose();
 * }
 * ```
 *
 * @module
 */

/** Exit codes of an interrupted command: 128 + the signal's number, as a shell reports it. */
export const INTERRUPT_EXIT_CODES: Readonly<Record<"SIGINT" | "SIGTERM", number>> = {
  SIGINT: 130,
  SIGTERM: 143,
};

/** Listening for SIGTERM and SIGINT. */
export interface Interrupts {
  /** Aborted (reason: the signal's name) at the first SIGTERM or SIGINT. */
  readonly signal: AbortSignal;
  /** The exit code for the signal received (143 for SIGTERM, 130 for SIGINT; 1 before any). */
  readonly exitCode: number;
  /** Stops listening. */
  dispose(): void;
}

/**
 * Listens for SIGTERM and SIGINT. The first aborts `signal` and calls `onFirst` (to say what happens
 * next); a later SIGINT exits the process at once with its exit code.
 */
export function listenForInterrupts(onFirst?: (signal: Deno.Signal) => void): Interrupts {
  const controller = new AbortController();
  let exitCode = 1;
  const listeners: [Deno.Signal, () => void][] = [];
  for (const name of ["SIGTERM", "SIGINT"] as const) {
    const listener = () => {
      if (controller.signal.aborted) {
        if (name === "SIGINT") Deno.exit(INTERRUPT_EXIT_CODES[name]);
        return;
      }
      exitCode = INTERRUPT_EXIT_CODES[name];
      controller.abort(name);
      onFirst?.(name);
    };
    try {
      Deno.addSignalListener(name, listener);
      listeners.push([name, listener]);
    } catch {
      // Windows has no SIGTERM; Ctrl-C (SIGINT) still works there.
    }
  }
  return {
    signal: controller.signal,
    get exitCode() {
      return exitCode;
    },
    dispose() {
      for (const [name, listener] of listeners) Deno.removeSignalListener(name, listener);
      listeners.length = 0;
    },
  };
}

/** Quotes `value` for a POSIX shell when it needs quoting. */
export function shellWord(value: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(value) ? value : `'${value.replaceAll("'", `'"'"'`)}'`;
}

/**
 * The command that continues an interrupted run: `command` with the same arguments and `--resume`
 * (added once).
 */
export function resumeCommand(command: string, args: readonly string[]): string {
  const words = args.includes("--resume") ? [...args] : [...args, "--resume"];
  return [command, ...words.map(shellWord)].join(" ");
}

/** The environment variable of {@linkcode pauseHookFromEnvironment}. */
export const PAUSE_VARIABLE = "ZSL_TEST_PAUSE";

/**
 * A test hook: with `ZSL_TEST_PAUSE=checkpoint:N:FILE` (or `step:N:FILE`), the returned callback for
 * `onCheckpoint` (`onStep`) creates FILE when checkpoint (step) N is done and waits there until
 * `signal` aborts or a minute passes, so that a test can kill the process at that exact point. Inert
 * (null) unless the variable is set and readable: the tasks of deno.json do not grant it.
 */
export function pauseHookFromEnvironment(
  signal: AbortSignal,
): { at: "checkpoint" | "step"; step: number; pause: () => Promise<void> } | null {
  if (Deno.permissions.querySync({ name: "env", variable: PAUSE_VARIABLE }).state !== "granted") return null;
  const value = Deno.env.get(PAUSE_VARIABLE);
  const match = value?.match(/^(checkpoint|step):(\d+):(.+)$/);
  if (!match) return null;
  const file = match[3];
  return {
    at: match[1] as "checkpoint" | "step",
    step: Number(match[2]),
    pause: async () => {
      await Deno.writeTextFile(file, String(Deno.pid));
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 60_000);
        signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
    },
  };
}
