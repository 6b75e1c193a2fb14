/**
 * The figure of the loss along the update (docs/method.md#loss-along-the-update), one per run: the mean
 * loss change ΔL(α), D(α) and M(α) of Δℓ(α) = ℓ(θ_t + α·δ) − ℓ(θ_t) against α, one line per checkpoint t
 * (coloured along a sequential scheme by t), a row for the batch δ was taken on ("train") and one for an
 * eval batch; α = 0 (θ_t) and α = 1 (the real step) are marked.
 *
 * @module
 */
import type { VegaLiteSpec } from "./render.ts";
import type { FigureOptions, Spec } from "./style.ts";
import { figure, modelColors, quantityAxis, unitDomain } from "./style.ts";

/** A point of the landscape figure: one checkpoint's set at one α. */
export interface LandscapePoint {
  /** The checkpoint t (the line and its colour). */
  checkpoint: number;
  /** "train" (the batch δ was taken on) or "eval". */
  set: "train" | "eval";
  /** The multiple of δ. */
  alpha: number;
  /** Mean loss at θ_t + α·δ (nats; in the tooltip). */
  loss: number;
  /** Mean loss change from α = 0 (nats). */
  deltaL: number;
  /** D of Δℓ(α) (NaN at α = 0: left out of that panel). */
  D: number;
  /** M of Δℓ(α) (nats). */
  M: number;
}

/** Options of {@linkcode landscapeFigureSpec}. */
export interface LandscapeFigureOptions extends FigureOptions {
  /** The scale s of the α grid (α = 1·s is the real step when s ≠ 1; default 1). */
  scale?: number;
}

const PANELS: { field: "deltaL" | "D" | "M"; title: string }[] = [
  { field: "deltaL", title: "ΔL(α) (mean loss change)" },
  { field: "D", title: "D of Δℓ(α)" },
  { field: "M", title: "M (mean |Δℓ(α)|)" },
];

/**
 * The landscape figure of one run: panels ΔL, D, M against α side by side, a row per set, one line per
 * checkpoint (viridis by t, the legend in step order), grey rules at α = 0 and at the real step.
 */
export function landscapeFigureSpec(
  points: readonly LandscapePoint[],
  options: LandscapeFigureOptions = {},
): VegaLiteSpec {
  if (points.length === 0) {
    throw new Error("zsl: the landscape figure needs at least one checkpoint's points");
  }
  const checkpoints = [...new Set(points.map((p) => p.checkpoint))].sort((a, b) => a - b);
  const alphas = points.map((p) => p.alpha);
  const x = {
    field: "alpha",
    type: "quantitative",
    title: "α (α = 1: the step)",
    scale: { domain: [Math.min(...alphas), Math.max(...alphas)], nice: false },
    axis: { grid: true, gridDash: [1, 2] },
  };
  const color = {
    field: "checkpoint",
    type: "ordinal",
    title: "Checkpoint t",
    scale: { domain: checkpoints, range: modelColors(checkpoints.length, options.scheme ?? "viridis") },
    legend: { orient: "bottom", direction: "horizontal", symbolStrokeWidth: 3, symbolOpacity: 1 },
  };
  const size = { width: options.width ?? 220, height: options.height ?? 180 };
  const steps = [...new Set([0, options.scale ?? 1])];
  const sets = (["train", "eval"] as const).filter((set) => points.some((p) => p.set === set));
  const row = (set: "train" | "eval"): Spec => {
    const rows = points.filter((p) => p.set === set);
    return {
      hconcat: PANELS.map((panel) => {
        const values = rows.map((p) => p[panel.field]).filter(Number.isFinite);
        const lo = Math.min(0, ...values);
        const hi = Math.max(0, ...values);
        const pad = 0.05 * (hi - lo || 1);
        const domain: [number, number] = panel.field === "D" ? unitDomain(values) : [lo - pad, hi + pad];
        const y = quantityAxis(panel.field, panel.title, domain, false);
        const drawn = rows.filter((p) => Number.isFinite(p[panel.field]));
        return {
          ...size,
          title: {
            text: `${panel.title.split(" (")[0]}, ${set === "train" ? "stepped-on batch" : "eval batch"}`,
            fontSize: 12,
            fontWeight: "normal",
          },
          layer: [
            {
              data: { values: steps.map((alpha) => ({ alpha })) },
              mark: { type: "rule", color: "gray", strokeDash: [3, 3], opacity: 0.7 },
              encoding: { x: { ...x, field: "alpha" } },
            },
            {
              data: { values: drawn },
              mark: { type: "line", strokeWidth: 1.6, clip: true, point: { size: 12, filled: true } },
              encoding: {
                x,
                y,
                color,
                tooltip: [
                  { field: "checkpoint", title: "t" },
                  { field: "alpha", format: ".3f" },
                  { field: "loss", format: ".4f" },
                  { field: panel.field, format: ".4g" },
                ],
              },
            },
          ],
        };
      }),
    };
  };
  return figure(options.title ?? "Loss along the update θ_t + α·δ (one line per checkpoint t)", {
    vconcat: sets.map(row),
    resolve: { scale: { color: "shared" } },
  });
}
