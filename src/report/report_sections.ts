/**
 * The sections of `report.html` after its summary, in page order ({@linkcode REPORT_SECTIONS}): the
 * figures, the deceleration fit in full, loss and gradient interference per run, `runs.arrow`, what was
 * run and on what. Tables of many quantities are turned on their side (one column per run or checkpoint),
 * and long ones are folded in `<details>`, so that the page stays a few screens of figures and short
 * tables. A new analysis adds its section here (one entry in the list, its module beside this one).
 *
 * @module
 */
import type { TableData } from "../io/arrow.ts";
import {
  DECELERATION_CURVES_TABLE,
  DECELERATION_LR_AREA_CURVES_TABLE,
  DECELERATION_TABLE,
  type DecelerationRow,
} from "../results/deceleration.ts";
import { readWarmupControl, WARMUP_CONTROL_TABLE, WARMUP_VERDICT_TABLE } from "../results/warmup.ts";
import { ABLATION_AXES, ABLATION_TABLE } from "../results/ablation.ts";
import { LANDSCAPE_TABLE } from "../results/landscape.ts";
import { ABLATION_NOTE, LANDSCAPE_NOTE } from "./markdown.ts";
import { warmupSectionHtml } from "./warmup.ts";
import {
  COHERENCE_HISTOGRAM_TABLE,
  GRADIENT_TABLE,
  type GradientInterferenceRow,
} from "../results/gradients.ts";
import type { Dt2tGroupRow } from "../results/interference.ts";
import {
  brownGenreName,
  DT1_BATCHES_TABLE,
  DT1_TABLE,
  DT2T_GROUPS_TABLE,
  DT2T_TABLE,
} from "../results/interference.ts";
import type { RunSession, SweepEnvironment } from "../results/sweep.ts";
import { ENVIRONMENT_FILE, RUNS_TABLE } from "../results/sweep.ts";
import { formatDuration, formatNumber, formatStepRange } from "../util/format.ts";
import { escapeHtml } from "../util/html.ts";
import type { Cell } from "./html.ts";
import { cell, figuresHtml, foldedHtml, tableHtml, textTableHtml } from "./html.ts";
import { infoAt, type ReportSection, type RunInfo } from "./report_context.ts";
import { runsColumnGroups, runsColumnLabel } from "./runs_table.ts";
import {
  ablationTable,
  bnslParameterTable,
  DECELERATION_FORMULA,
  dt1Table,
  dt2tTable,
  gradientDetailTable,
  groupBy,
  landscapeTable,
} from "./tables.ts";

/** Whether each model's break follows its warmup: the verdicts, the rule and the runs (the headline is in the summary). */
const warmupSection: ReportSection = {
  id: "warmup-control",
  title: "Warmup control",
  tables: [WARMUP_CONTROL_TABLE.file, WARMUP_VERDICT_TABLE.file],
  html: async (context) => {
    const control = await readWarmupControl(context.resultsDir);
    return control ? warmupSectionHtml(control, { headline: false }) : null;
  },
};

/** The figures of `results/`, F1–F8 first. */
const figuresSection: ReportSection = {
  id: "figures",
  title: "Figures",
  html: async (context) => (await figuresHtml(context.resultsDir)) || null,
};

/** The parameter table with ± errors, the formula, and why a break is not identified. */
export function decelerationDetailsHtml(rows: readonly DecelerationRow[]): string {
  const unidentified = rows.filter((row) => !row.identified);
  const notes = unidentified.length === 0 ? "" : "<p>⚠ Break not identified (the numbers are the " +
    "least-squares optimum, not a deceleration):</p><ul>" +
    unidentified.map((row) => `<li><b>${escapeHtml(row.name)}</b>: ${escapeHtml(row.reasons)}</li>`).join(
      "",
    ) +
    "</ul>";
  return `<p class="formula">${escapeHtml(DECELERATION_FORMULA)}</p>\n` +
    `${textTableHtml(bnslParameterTable(rows))}\n${notes}`;
}

const decelerationSection: ReportSection = {
  id: "deceleration",
  title: "Loss deceleration: the fit",
  tables: [DECELERATION_TABLE.file, DECELERATION_CURVES_TABLE.file, DECELERATION_LR_AREA_CURVES_TABLE.file],
  html: async (context) => {
    const rows = await context.table(DECELERATION_TABLE);
    return rows ? decelerationDetailsHtml(rows) : null;
  },
};

/** Per-genre D of Δ_t^{2t} of one model: one row per genre, one column per window. */
function genreTableHtml(model: string, rows: Dt2tGroupRow[], brown: boolean): string {
  const windows = [...new Set(rows.map((row) => row.t))].sort((a, b) => a - b);
  const cells: Cell[][] = [...groupBy(rows, (row) => row.group)].map(([genre, own]) => {
    const name = brown ? brownGenreName(genre) : undefined;
    return [
      { text: name ? `${genre} (${name})` : genre },
      ...windows.map((t) => cell(own.find((row) => row.t === t)?.D ?? NaN)),
    ];
  });
  return tableHtml(
    ["genre", ...windows.map((t) => `${t} → ${2 * t}`)],
    cells,
    `${model}: D of Δ_t^{2t} per genre (per document: ${DT2T_GROUPS_TABLE.file})`,
    true,
  );
}

const interferenceSection: ReportSection = {
  id: "interference",
  title: "Zero-sum learning: loss interference",
  tables: [DT2T_TABLE.file, DT2T_GROUPS_TABLE.file, DT1_TABLE.file, DT1_BATCHES_TABLE.file],
  html: async (context) => {
    const dt2t = await context.table(DT2T_TABLE);
    const dt1 = await context.table(DT1_TABLE);
    if (!dt2t && !dt1) return null;
    const groups = (await context.table(DT2T_GROUPS_TABLE))?.filter((row) => row.grouping === "genre") ?? [];
    // Genre ids are Brown's category letters only when every run trained on Brown.
    const brown = [...context.infos.values()].every((info) => infoAt(info, "data", "source") === "brown");
    const windows = groupBy(dt2t ?? [], (row) => row.model);
    const steps = groupBy(dt1 ?? [], (row) => row.model, [...windows.keys()]);
    const parts = [
      "<p>D = 1 − |Σ Δℓ| / Σ |Δℓ|, M = mean |Δℓ|, |ΔL| = M·(1 − D) over the predicted tokens " +
      "(docs/method.md#loss-interference). Windows overlapping the fitted t_d ± 1σ are marked ◀ t_d.</p>",
    ];
    const between = [...windows].map(([model, rows]) => {
      const band = context.breaks.get(model);
      const table = dt2tTable(rows, band);
      table.caption = `${model}: Δ_t^{2t}, t_d ${
        band ? formatStepRange(band.tD, band.tDRange) : "not identified"
      }`;
      return textTableHtml(table);
    });
    if (between.length > 0) parts.push(`<div class="side-by-side">${between.join("\n")}</div>`);
    for (const [model, rows] of steps) {
      if (rows.length === 0) continue;
      parts.push(foldedHtml(
        `${model}: one step Δ_t^{t+1} from ${new Set(rows.map((row) => row.t)).size} checkpoints ` +
          `(mean ± std over the unseen batches)`,
        textTableHtml(dt1Table(rows)),
      ));
    }
    for (const [model, rows] of groupBy(groups, (row) => row.model)) {
      parts.push(foldedHtml(
        `${model}: D per genre, ${new Set(rows.map((row) => row.group)).size} genres`,
        genreTableHtml(model, rows, brown),
      ));
    }
    return parts.join("\n");
  },
};

const gradientSection: ReportSection = {
  id: "gradients",
  title: "Zero-sum learning: gradient interference",
  tables: [GRADIENT_TABLE.file, COHERENCE_HISTOGRAM_TABLE.file],
  html: async (context) => {
    const rows = await context.table(GRADIENT_TABLE);
    if (!rows) return null;
    const parts = [
      "<p>D(∇ℓ): mean per-coordinate interference of the per-example gradients over N examples; pure noise " +
      "gives about 1 − 1/√N (docs/method.md#reading-d-against-its-null). C_g, C_(u,G), C_(u,g): coherences of " +
      "p_ij = g_ij·δ_j, with 1 − D(Δ̂ℓ) = C_g·C_(u,G)/C_(u,g). The C_j histograms are F6's " +
      `(<code>${COHERENCE_HISTOGRAM_TABLE.file}</code>).</p>`,
    ];
    for (const [run, own] of groupBy(rows, (row: GradientInterferenceRow) => row.run)) {
      const examples = [...new Set(own.map((row) => `${row.examples} ${row.granularity}s`))].join(", ");
      parts.push(foldedHtml(
        `${run}: ${own.length} checkpoints, N = ${examples}`,
        textTableHtml(gradientDetailTable(own, `${run}: gradient interference per checkpoint`)),
      ));
    }
    return parts.join("\n");
  },
};

/** A group of rows of `runs.arrow`, turned on its side: one row per column, one column per run. */
function runsGroupHtml(runs: TableData, columns: readonly string[], caption: string): string {
  const ids = Array.from(runs.columns.run_id ?? [], String);
  const rows: Cell[][] = columns.map((column) => [
    { text: runsColumnLabel(column) },
    ...ids.map((_, row) => cell(runs.columns[column]?.[row])),
  ]);
  return tableHtml(["", ...ids], rows, caption, true);
}

/** The loss along the update per run (docs/method.md#loss-along-the-update), each run's table folded. */
const landscapeSection: ReportSection = {
  id: "landscape",
  title: "Loss along the update",
  tables: [LANDSCAPE_TABLE.file],
  html: async (context) => {
    const rows = await context.table(LANDSCAPE_TABLE);
    if (!rows) return null;
    const perRun = [...groupBy(rows, (row) => row.model)].map(([model, own]) =>
      foldedHtml(model, textTableHtml(landscapeTable(own)))
    );
    return `<p>${escapeHtml(LANDSCAPE_NOTE)}</p>\n${perRun.join("\n")}`;
  },
};

/** The runs that differ only in their optimizer (or architecture), compared. */
const ablationSection: ReportSection = {
  id: "ablations",
  title: "Ablations: optimizers and architectures compared",
  tables: [ABLATION_TABLE.file],
  html: async (context) => {
    const rows = await context.table(ABLATION_TABLE);
    if (!rows) return null;
    const tables = ABLATION_AXES.map((axis) => rows.filter((row) => row.axis === axis))
      .filter((own) => own.length > 0)
      .map((own) => textTableHtml(ablationTable(own)));
    return `<p>${escapeHtml(ABLATION_NOTE)}</p>\n${tables.join("\n")}`;
  },
};

const runsSection: ReportSection = {
  id: "runs",
  title: `Runs (${RUNS_TABLE})`,
  tables: [RUNS_TABLE],
  html: (context) => {
    const runs = context.runs;
    if (!runs) return Promise.resolve(null);
    const parts = [
      `<p>One row of <code>${RUNS_TABLE}</code> per run, shown here one column per run. “At the break”: the ` +
      "window t → 2t with t ≤ t_d &lt; 2t (and the checkpoint t ≤ t_d), only where the break is identified; " +
      "“last”: the last window. The README describes every column.</p>",
    ];
    for (const [title, columns] of runsColumnGroups(runs.names)) {
      parts.push(foldedHtml(`${title} (${columns.length} columns)`, runsGroupHtml(runs, columns, title)));
    }
    return Promise.resolve(parts.join("\n"));
  },
};

/** One row per quantity of what each run was: preset, sizes, seed, schedule, steps, batch and data. */
const RUN_DESCRIPTION: [string, (info: RunInfo | null) => Cell][] = [
  ["preset", (info) => ({ text: String(infoAt(info, "preset") ?? "config file") })],
  ["model", (info) => {
    const model = infoAt(info, "model") ?? infoAt(info, "spec", "config");
    const size = (key: string) => infoAt(model, key);
    return {
      text: `d ${size("d_model")}, L ${size("n_layers")}, h ${size("n_heads")}, T ${size("seq_len")}`,
      numeric: true,
    };
  }],
  ["seed", (info) => cell(infoAt(info, "seed"))],
  ["schedule", (info) => ({ text: String(infoAt(info, "schedule", "kind") ?? ""), numeric: true })],
  ["peak learning rate", (info) => cell(infoAt(info, "schedule", "peakLr"))],
  ["warmup, steps", (info) => cell(infoAt(info, "schedule", "warmup"))],
  ["steps", (info) => cell(infoAt(info, "steps"))],
  ["batch, sequences", (info) => cell(infoAt(info, "batch"))],
  ["microbatch", (info) => cell(infoAt(info, "microbatch"))],
  ["data", (info) => ({
    text: String(infoAt(info, "data", "source") ?? infoAt(info, "spec", "data") ?? ""),
    numeric: true,
  })],
  ["tokenizer", (info) => ({ text: String(infoAt(info, "tokenizer") ?? ""), numeric: true })],
  ["tokens", (info) => cell(infoAt(info, "data", "tokens"))],
  ["documents", (info) => cell(infoAt(info, "data", "documents"))],
  ["train sequences", (info) => cell(infoAt(info, "data", "trainSequences"))],
  ["eval sequences", (info) => cell(infoAt(info, "data", "evalSequences"))],
  ["data seed", (info) => cell(infoAt(info, "data", "seed"))],
  [
    "order fingerprint",
    (info) => ({ text: String(infoAt(info, "data", "orderFingerprint") ?? ""), numeric: true }),
  ],
];

const whatWasRunSection: ReportSection = {
  id: "what-was-run",
  title: "What was run",
  html: (context) => {
    const parts: string[] = [];
    const rows = RUN_DESCRIPTION.map(([label, describe]) => [
      { text: label },
      ...context.runIds.map((id) => describe(context.infos.get(id) ?? null)),
    ]);
    parts.push(tableHtml(["", ...context.runIds], rows, "The runs (run.json of each)", true));
    if (context.sweep) {
      parts.push(foldedHtml(
        "Sweep definition (sweep.json)",
        `<pre>${escapeHtml(JSON.stringify(context.sweep, null, 2))}</pre>`,
      ));
    }
    for (const id of context.runIds) {
      const info = context.infos.get(id);
      if (!info) continue;
      parts.push(foldedHtml(`run.json of ${id}`, `<pre>${escapeHtml(JSON.stringify(info, null, 2))}</pre>`));
    }
    return Promise.resolve(parts.join("\n"));
  },
};

/** An adapter as one line: its name, vendor and backend, and whether it runs on the CPU. */
export function adapterText(adapter: unknown): string {
  if (!adapter || typeof adapter !== "object") return "—";
  const a = adapter as Record<string, unknown>;
  return `${a.description || a.device} (${a.vendor}, ${a.backend}${
    a.isSoftware ? ", software: runs on the CPU" : ", hardware"
  })`;
}

function seconds(value: number): Cell {
  return {
    text: Number.isFinite(value) ? `${formatDuration(value)} (${formatNumber(value, 3)} s)` : "—",
    numeric: true,
  };
}

function environmentHtml(environment: SweepEnvironment | null, infos: Map<string, RunInfo | null>): string {
  if (!environment) {
    return `<p>No <code>${ENVIRONMENT_FILE}</code>: the analyses were not run by the sweep.</p>`;
  }
  const host = environment.host;
  const sessionSeconds = (sessions: RunSession[]) => sessions.reduce((sum, s) => sum + s.seconds, 0);
  const runs = environment.runs;
  const perRun = (label: string, value: (run: SweepEnvironment["runs"][number]) => Cell): Cell[] => [
    { text: label },
    ...runs.map(value),
  ];
  return [
    tableHtml(
      [],
      [
        [{ text: "Deno" }, {
          text: `${host.deno.deno} (V8 ${host.deno.v8}, TypeScript ${host.deno.typescript})`,
        }],
        [{ text: "OS" }, { text: `${host.os} ${host.arch}${host.osRelease ? ` ${host.osRelease}` : ""}` }],
        [{ text: "host" }, { text: host.hostname ?? "—" }],
        [{ text: "CPUs" }, { text: String(host.cpus) }],
        [{ text: "memory" }, {
          text: host.memoryBytes ? `${formatNumber(host.memoryBytes / 2 ** 30, 3)} GiB` : "—",
        }],
        [{ text: "analysis adapter" }, { text: adapterText(environment.analysisAdapter) }],
        [{ text: "written" }, { text: environment.written }],
      ],
      "Machine of the analyses",
      true,
    ),
    tableHtml(
      ["", ...runs.map((run) => run.id)],
      [
        perRun(
          "adapter",
          (run) => ({ text: adapterText(run.adapter ?? infoAt(infos.get(run.id), "adapter")) }),
        ),
        perRun("steps done", (run) => cell(run.stepsDone)),
        perRun("training, step loop", (run) => seconds(run.trainWallSeconds)),
        perRun(
          "training, sweep sessions",
          (run) =>
            run.sessions.length > 0
              ? seconds(sessionSeconds(run.sessions))
              : { text: "not trained by the sweep" },
        ),
        perRun("sessions", (run) => ({
          text: run.sessions.map((s) => `steps ${s.firstStep}–${s.lastStep} in ${formatDuration(s.seconds)}`)
            .join("; "),
          numeric: true,
        })),
      ],
      "Training per run (the sweep's sessions include setup and kernel compilation)",
      true,
    ),
    tableHtml(
      ["analysis", "time"],
      [
        ...environment.analyses.map((analysis) => [{ text: analysis.what }, seconds(analysis.seconds)]),
        [{ text: "total of the analyses", className: "total" }, seconds(environment.seconds.analyses)],
      ],
      "Analyses",
      true,
    ),
    `<p class="total">Training ${escapeHtml(formatDuration(environment.seconds.training))} over every ` +
    `session; analyses ${escapeHtml(formatDuration(environment.seconds.analyses))} in the session that ` +
    `wrote this report (a rerun reads the analyses it cached, untimed).</p>`,
  ].join("\n");
}

const environmentSection: ReportSection = {
  id: "environment",
  title: "Adapter, machine and time",
  html: (context) => Promise.resolve(environmentHtml(context.environment, context.infos)),
};

/**
 * The sections after the summary, in page order. A section of a new analysis goes where a reader needs
 * it (results before the records of what was run); each names the tables it shows in `tables`.
 */
export const REPORT_SECTIONS: readonly ReportSection[] = [
  warmupSection,
  figuresSection,
  decelerationSection,
  interferenceSection,
  gradientSection,
  landscapeSection,
  ablationSection,
  runsSection,
  whatWasRunSection,
  environmentSection,
];
