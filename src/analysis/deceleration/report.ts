/**
 * Tables of deceleration fits: one Arrow row per model, and the paper's tables in Markdown.
 *
 * @module
 */
import type { Columns } from "../../io/arrow.ts";
import type { DecelerationFit } from "./fit.ts";

/** A fitted model: its name and its fit. */
export interface NamedFit {
  /** The model's name: the `name` column, and the row label of the Markdown tables. */
  name: string;
  /** Its fit, from `fitDeceleration`. */
  fit: DecelerationFit;
}

/** One row per model: every parameter and derived quantity with its ± one-sigma error. */
export function decelerationColumns(models: NamedFit[]): Columns {
  const column = (get: (fit: DecelerationFit) => number) => Float64Array.from(models, ({ fit }) => get(fit));
  return {
    name: models.map((m) => m.name),
    identified: models.map((m) => m.fit.identified),
    reasons: models.map((m) => m.fit.reasons.join("; ")),
    t_d_in_range: models.map((m) => m.fit.tDInRange),
    n_points: column((f) => f.nPoints),
    min_step: column((f) => f.minStep),
    d1_guess: column((f) => f.d1Guess),
    first_step: column((f) => f.fittedRange[0]),
    final_step: column((f) => f.finalStep),
    b: column((f) => f.b),
    b_err: column((f) => f.errors.b),
    c0: column((f) => f.c0),
    c0_err: column((f) => f.errors.c0),
    c1: column((f) => f.c1),
    c1_err: column((f) => f.errors.c1),
    log_d1: column((f) => f.logD1),
    log_d1_err: column((f) => f.errors.logD1),
    d1: column((f) => f.d1),
    d1_err: column((f) => f.errors.d1),
    f1: column((f) => f.f1),
    f1_err: column((f) => f.errors.f1),
    t_d: column((f) => f.tD),
    t_d_min: column((f) => f.tDRange[0]),
    t_d_max: column((f) => f.tDRange[1]),
    L_d: column((f) => f.lossD),
    L_d_err: column((f) => f.errors.lossD),
    r_d: column((f) => f.rateD),
    r_d_err: column((f) => f.errors.rateD),
    L_hat_T: column((f) => f.predictedFinalLoss),
    L_hat_T_err: column((f) => f.errors.predictedFinalLoss),
    L_T: column((f) => f.finalLoss),
    rsle: column((f) => f.rsle),
    residual_ratio: column((f) => f.residualRatio),
    sse: column((f) => f.sse),
    converged: models.map((m) => m.fit.converged),
    iterations: column((f) => f.iterations),
  };
}

/** `value ± error`, the value rounded to the error's second significant digit. */
export function formatWithError(value: number, error: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (!Number.isFinite(error)) return `${value.toPrecision(4)} ± ∞`;
  if (error === 0) return `${value} ± 0`;
  const decimals = Math.min(Math.max(1 - Math.floor(Math.log10(Math.abs(error))), 0), 10);
  return `${value.toFixed(decimals)} ± ${error.toFixed(decimals)}`;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, "\\|");
}

/**
 * The paper's two tables in Markdown: Model | L_d | t_d | r_d | L̂_T | L_T, and the BNSL
 * parameters with ± one-sigma errors; a note under them for every fit whose break is not identified.
 */
export function decelerationMarkdown(models: NamedFit[], preamble = ""): string {
  const lines: string[] = ["# Loss deceleration", ""];
  if (preamble) lines.push(preamble, "");
  lines.push(
    "Fit: log L(t) = log b − c0·log t − c1·f1·log(1 + exp((log t − log d1)/f1)); t_d = d1, " +
      "L_d = b·t_d^−c0, r_d = c0 + c1, L̂_T = L_d·(t_d/T)^r_d, L_T = the smoothed loss at the last step T. " +
      "Errors are ± one standard error (t_d: the range exp(log d1 ∓ σ)).",
    "",
    "| Model | L_d | t_d | r_d | L̂_T | L_T |",
    "| --- | --- | --- | --- | --- | --- |",
  );
  const mark = (fit: DecelerationFit) => (fit.identified ? "" : " ⚠");
  for (const { name, fit } of models) {
    const tD = `${Math.round(fit.tD)} (${Math.round(fit.tDRange[0])}–${Math.round(fit.tDRange[1])})`;
    lines.push(
      `| ${escapeCell(name)}${mark(fit)} | ${formatWithError(fit.lossD, fit.errors.lossD)} | ${tD} | ` +
        `${formatWithError(fit.rateD, fit.errors.rateD)} | ` +
        `${formatWithError(fit.predictedFinalLoss, fit.errors.predictedFinalLoss)} | ${
          fit.finalLoss.toFixed(4)
        } |`,
    );
  }
  lines.push(
    "",
    "| Model | b | c0 | c1 | log d1 | f1 | RSLE | points | steps fitted |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  );
  for (const { name, fit } of models) {
    const e = fit.errors;
    lines.push(
      `| ${escapeCell(name)}${mark(fit)} | ${formatWithError(fit.b, e.b)} | ${
        formatWithError(fit.c0, e.c0)
      } | ` +
        `${formatWithError(fit.c1, e.c1)} | ${formatWithError(fit.logD1, e.logD1)} | ` +
        `${formatWithError(fit.f1, e.f1)} | ${fit.rsle.toFixed(4)} | ${fit.nPoints} | ` +
        `${fit.fittedRange[0]}–${fit.fittedRange[1]} |`,
    );
  }
  const unidentified = models.filter((m) => !m.fit.identified);
  if (unidentified.length > 0) {
    lines.push(
      "",
      "⚠ Break not identified (the numbers above are the least-squares optimum, not a deceleration):",
    );
    for (const { name, fit } of unidentified) lines.push(`- ${escapeCell(name)}: ${fit.reasons.join("; ")}.`);
  }
  return lines.join("\n") + "\n";
}
