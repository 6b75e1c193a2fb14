/**
 * The one-break smoothly broken power law (BNSL) without additive constant, in log space
 * (docs/method.md#the-broken-power-law):
 *
 *     log L(t) = log b − c0·log t − c1·f1·log(1 + exp((log t − log d1)/f1))
 *
 * Slope −c0 before d1, −(c0 + c1) after; f1 is the width of the break in log-steps.
 *
 * @module
 */

/** BNSL parameters as published (b, c0, c1, log d1, f1). */
export interface BnslParameters {
  /** Scale: the pre-break line b·t^−c0 at t = 1. */
  b: number;
  /** Minus the log-log slope before the break. */
  c0: number;
  /** Change of the slope at the break (the slope after is −(c0 + c1)); negative when the loss decelerates. */
  c1: number;
  /** Natural log of the break step d1. */
  logD1: number;
  /** Width of the break in natural-log steps (sharpness; → 0 is a kink). */
  f1: number;
}

/**
 * The fitted parameter vector: `[log b, c0, c1, log d1, f1]`. log b instead of b keeps the
 * problem well scaled; at the optimum it is the same fit, and σ_b = b·σ_log b exactly (the
 * Jacobian columns differ by the constant factor b).
 */
export type ParameterVector = [number, number, number, number, number];

/** log(1 + e^z), without overflow for large z nor cancellation for very negative z. */
export function softplus(z: number): number {
  return Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
}

/** The logistic function 1/(1 + e^−z), the derivative of `softplus`, without overflow. */
export function logistic(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** Converts published parameters to the fitted vector. */
export function toVector(p: BnslParameters): ParameterVector {
  return [Math.log(p.b), p.c0, p.c1, p.logD1, p.f1];
}

/** Converts the fitted vector to published parameters. */
export function fromVector(v: ArrayLike<number>): BnslParameters {
  return { b: Math.exp(v[0]), c0: v[1], c1: v[2], logD1: v[3], f1: v[4] };
}

/** log L at log-step `x` for the parameter vector `v`. */
export function bnslLogAt(v: ArrayLike<number>, x: number): number {
  return v[0] - v[1] * x - v[2] * v[4] * softplus((x - v[3]) / v[4]);
}

/** L(t) for published parameters `p` at step `t`. */
export function bnsl(p: BnslParameters, t: number): number {
  return Math.exp(bnslLogAt(toVector(p), Math.log(t)));
}

/**
 * ∂ log L / ∂v at log-step `x`, for v = [log b, c0, c1, log d1, f1], with u = (x − log d1)/f1:
 * [1, −x, −f1·sp(u), c1·σ(u), −c1·(sp(u) − u·σ(u))].
 */
export function bnslLogGradient(v: ArrayLike<number>, x: number): number[] {
  const c1 = v[2];
  const f1 = v[4];
  const u = (x - v[3]) / f1;
  const sp = softplus(u);
  const s = logistic(u);
  return [1, -x, -f1 * sp, c1 * s, -c1 * (sp - u * s)];
}
