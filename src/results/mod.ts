/**
 * The results layer: every artefact of a run and of a sweep, between the analyses that compute them and
 * the presenters that show them. For each: its file name, its schema (columns, types and units in the row
 * type's documentation), its writer and its reader.
 *
 * Tables of a sweep (`SWEEP/results/`): {@linkcode DECELERATION_TABLE}, {@linkcode DECELERATION_CURVES_TABLE},
 * {@linkcode DECELERATION_LR_AREA_CURVES_TABLE}, {@linkcode WARMUP_CONTROL_TABLE}, {@linkcode WARMUP_VERDICT_TABLE},
 * {@linkcode DT2T_TABLE}, {@linkcode DT2T_GROUPS_TABLE}, {@linkcode DT1_TABLE}, {@linkcode DT1_BATCHES_TABLE},
 * {@linkcode GRADIENT_TABLE}, {@linkcode COHERENCE_HISTOGRAM_TABLE}, {@linkcode ABLATION_TABLE},
 * {@linkcode LANDSCAPE_TABLE}, {@linkcode DATA_STATISTICS_TABLE} (read with {@linkcode readTable}, written
 * with {@linkcode writeTable}), `runs.arrow`, `environment.json`; per run: the analyses' caches in
 * `RUN/interference/`, `RUN/gradients/` and `RUN/landscape/`, and `sweep_sessions.json`.
 *
 * @example Read a sweep's fits and loss interference
 * ```ts
 * import { DECELERATION_TABLE, DT2T_TABLE, readTable } from "./mod.ts";
 * const fits = await readTable("sweeps/default/results", DECELERATION_TABLE);
 * const windows = await readTable("sweeps/default/results", DT2T_TABLE);
 * console.log(fits.map((fit) => [fit.name, fit.tD]), windows.filter((row) => row.model === fits[0].name));
 * ```
 *
 * @module
 */
export * from "./table.ts";
export * from "./deceleration.ts";
export * from "./warmup.ts";
export * from "./interference.ts";
export * from "./gradients.ts";
export * from "./ablation.ts";
export * from "./landscape.ts";
export * from "./projections.ts";
export * from "./loss_curves.ts";
export * from "./sweep.ts";
export * from "./cache.ts";
export * from "./warmup_control.ts";
export * from "./data_statistics.ts";
