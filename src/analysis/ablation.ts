/**
 * Pairing for the ablations (docs/method.md#optimizers): which runs differ only in their
 * optimizer, or only in their architecture, and their deceleration and loss interference side by side as
 * the rows of `ablation.arrow` (`src/results/ablation.ts`).
 *
 * Two runs are compared along the optimizer axis when everything that defines their training but the
 * optimizer is the same: the model's shape and architecture, steps, batch, schedule, seed, data, weight
 * decay and clipping (AdEMAMix's own β2 and each optimizer's own settings set aside). Along the
 * architecture axis the same holds with the optimizer (and its settings) fixed and the architecture free,
 * the architecture's own MLP ratio, norm epsilon and default learning rate included.
 *
 * @module
 */
import type { AblationAxis, AblationRow } from "../results/ablation.ts";
import { ABLATION_AXES } from "../results/ablation.ts";
import type { DecelerationRow } from "../results/deceleration.ts";
import type { Dt2tRow } from "../results/interference.ts";
import { optimizerSpecOf } from "../train/optimizer.ts";
import type { LoadedRun } from "../train/run.ts";

/** What the pairing needs of a run. */
export interface AblationRun {
  /** The run's name (`model` of the result tables). */
  name: string;
  /** Its architecture. */
  arch: string;
  /** Its optimizer. */
  optimizer: string;
  /** Its warmup in steps. */
  warmup: number;
  /** Everything else that defines its training and is shared along each axis, as comparable text. */
  shared: Record<AblationAxis, string>;
}

/** A run as the pairing sees it (from its run.json, through {@linkcode LoadedRun}). */
export function ablationRun(run: LoadedRun): AblationRun {
  const { arch, mlp_ratio: _ratio, norm_eps: _eps, ...shape } = run.config;
  const { kind: _kind, beta2: _beta2, ...common } = run.optimizer;
  const spec = (run.info.spec ?? {}) as { lr?: number };
  const base = {
    shape,
    steps: run.steps,
    batch: run.batch,
    seed: run.info.seed ?? null,
    data: run.info.data ?? null,
    weightDecay: common.weightDecay,
    maxNorm: common.maxNorm,
    beta1: common.beta1,
    eps: common.eps,
  };
  const { peakLr, ...schedule } = run.schedule;
  return {
    name: run.info.name,
    arch: arch ?? "olmo",
    optimizer: run.optimizer.kind,
    warmup: run.schedule.warmup,
    shared: {
      optimizer: JSON.stringify({ ...base, schedule: run.schedule, arch }),
      // Each architecture's default learning rate (Kaplan's, of its own parameter count) is its own.
      arch: JSON.stringify({
        ...base,
        schedule: { ...schedule, peakLr: spec.lr === undefined ? "default" : peakLr },
        optimizer: optimizerSpecOf(run.optimizer),
        beta2: run.optimizer.beta2,
      }),
    },
  };
}

/** Runs that share everything but `axis`, in the order of their first run. */
export interface AblationGroup {
  /** What the runs differ in. */
  axis: AblationAxis;
  /** The group's name: the runs' names without the axis' value (`cpu-xs_nanogpt` of `cpu-xs_nanogpt_muon`). */
  name: string;
  /** The runs and their value of the axis, in the given order. */
  members: { run: AblationRun; value: string }[];
}

/** A run's name without the axis value as a `_`-separated part (`cpu-xs_nanogpt_muon` − muon). */
function withoutValue(name: string, value: string): string {
  const parts = name.split("_");
  const kept = parts.filter((part) => part !== value);
  return kept.length > 0 && kept.length < parts.length ? kept.join("_") : name;
}

/**
 * The groups of `runs` that differ only in `axis`: runs sharing everything else, with at least two
 * different values of the axis (a group of one value compares nothing).
 */
export function ablationGroups(runs: readonly AblationRun[], axis: AblationAxis): AblationGroup[] {
  const byShared = new Map<string, AblationRun[]>();
  for (const run of runs) {
    const key = run.shared[axis];
    if (!byShared.has(key)) byShared.set(key, []);
    byShared.get(key)!.push(run);
  }
  const groups: AblationGroup[] = [];
  for (const members of byShared.values()) {
    const withValues = members.map((run) => ({ run, value: axis === "arch" ? run.arch : run.optimizer }));
    if (new Set(withValues.map((member) => member.value)).size < 2) continue;
    const names = [...new Set(withValues.map((member) => withoutValue(member.run.name, member.value)))];
    groups.push({ axis, name: names.join(" / "), members: withValues });
  }
  // Two groups of one name (runs named without the axis value): number them.
  const seen = new Map<string, number>();
  for (const group of groups) {
    const count = (seen.get(group.name) ?? 0) + 1;
    seen.set(group.name, count);
    if (count > 1) group.name = `${group.name} (${count})`;
  }
  return groups;
}

/** The window t → 2t of `windows` picked by `pick` among those `accept` takes (null: none). */
function window(
  windows: readonly Dt2tRow[],
  accept: (row: Dt2tRow) => boolean,
  pick: "first" | "last",
): Dt2tRow | null {
  const candidates = windows.filter(accept).sort((a, b) => a.t - b.t);
  return (pick === "first" ? candidates[0] : candidates.at(-1)) ?? null;
}

/**
 * The rows of `ablation.arrow`: for each axis and each group of `runs` that differ only in it, every run
 * with its fit (`deceleration.arrow` rows by name; none: NaN) and the D of its Δ_t^{2t} windows
 * (`interference_dt_2t.arrow` rows): the last window ending before the break's −1σ end, the window
 * holding t_d, the first starting after its +1σ end (all NaN unless the break is identified), and the
 * last window.
 *
 * @example
 * ```ts
 * import type { DecelerationRow, Dt2tRow, LoadedRun } from "../../mod.ts";
 * import { ablationRows, ablationRun } from "./ablation.ts";
 * declare const runs: LoadedRun[], fits: DecelerationRow[], windows: Dt2tRow[];
 * const rows = ablationRows(runs.map(ablationRun), fits, windows);
 * rows.filter((row) => row.axis === "optimizer").map((row) => [row.group, row.value, row.tD, row.dAfter]);
 * ```
 */
export function ablationRows(
  runs: readonly AblationRun[],
  deceleration: readonly DecelerationRow[],
  dt2t: readonly Dt2tRow[],
): AblationRow[] {
  const fits = new Map(deceleration.map((row) => [row.name, row]));
  const rows: AblationRow[] = [];
  for (const axis of ABLATION_AXES) {
    for (const group of ablationGroups(runs, axis)) {
      for (const { run, value } of group.members) {
        const fit = fits.get(run.name);
        const identified = fit?.identified ?? false;
        const windows = dt2t.filter((row) => row.model === run.name);
        const tD = fit?.tD ?? NaN;
        const across = identified && fit
          ? {
            before: window(windows, (row) => row.t2 <= fit.tDMin, "last"),
            break: window(windows, (row) => row.t <= fit.tD && fit.tD < row.t2, "first"),
            after: window(windows, (row) => row.t >= fit.tDMax, "first"),
          }
          : { before: null, break: null, after: null };
        const last = window(windows, () => true, "last");
        rows.push({
          axis,
          group: group.name,
          value,
          run: run.name,
          warmup: run.warmup,
          identified,
          tD,
          tDMin: fit?.tDMin ?? NaN,
          tDMax: fit?.tDMax ?? NaN,
          lossD: fit?.lossD ?? NaN,
          rateD: fit?.rateD ?? NaN,
          finalLoss: fit?.finalLoss ?? NaN,
          tDOverWarmup: run.warmup > 0 ? tD / run.warmup : NaN,
          dBeforeT: across.before?.t ?? -1,
          dBefore: across.before?.D ?? NaN,
          dBreakT: across.break?.t ?? -1,
          dBreak: across.break?.D ?? NaN,
          dAfterT: across.after?.t ?? -1,
          dAfter: across.after?.D ?? NaN,
          dLastT: last?.t ?? -1,
          dLast: last?.D ?? NaN,
        });
      }
    }
  }
  return rows;
}
