import { assert, assertEquals, assertThrows } from "./asserts.ts";
import { GPU_TEST, testGpu } from "./helpers.ts";
import {
  ablationCpuSweep,
  defaultSweep,
  expandSweep,
  SWEEP_PRESETS,
  sweepPreset,
  validateSweep,
} from "../src/sweep/definition.ts";
import type { SweepEvent } from "../src/sweep/local.ts";
import { runSweepLocally } from "../src/sweep/local.ts";
import { estimateComparison } from "../src/sweep/estimate.ts";

Deno.test("sweep: the grid expands to one named run per point; bad definitions name the field", () => {
  const definition = {
    ...defaultSweep(),
    warmups: [],
    models: ["cpu-xs", "cpu-s"],
    seeds: [0, 1],
    schedules: ["trapezoidal" as const],
  };
  const runs = expandSweep(definition);
  assertEquals(runs.map((run) => run.id), ["cpu-xs_s0", "cpu-xs_s1", "cpu-s_s0", "cpu-s_s1"]);
  assertEquals(runs[1].spec.seed, 1);
  assertEquals(runs[2].spec.preset, "cpu-s");
  assertThrows(
    () => validateSweep({ model: ["tiny"] }),
    Error,
    'model is not a sweep field (did you mean "models"?)',
  );
  assertThrows(() => validateSweep({ models: [] }), Error, "models is empty");
  assertThrows(() => validateSweep({ seeds: 3 }), Error, "seeds must be an array");
  assertThrows(() => expandSweep({ ...definition, seeds: [0, 0] }), Error, "both called");
});

Deno.test("sweep: archs and optimizers are grid axes; ids name them where they vary; presets", () => {
  const definition = validateSweep({
    models: ["cpu-xs"],
    archs: ["olmo", "nanogpt"],
    optimizers: ["adamw", "muon"],
    seeds: [0, 1],
  });
  const runs = expandSweep(definition);
  assertEquals(runs.map((run) => run.id), [
    "cpu-xs_olmo_adamw_s0",
    "cpu-xs_olmo_adamw_s1",
    "cpu-xs_olmo_muon_s0",
    "cpu-xs_olmo_muon_s1",
    "cpu-xs_nanogpt_adamw_s0",
    "cpu-xs_nanogpt_adamw_s1",
    "cpu-xs_nanogpt_muon_s0",
    "cpu-xs_nanogpt_muon_s1",
  ]);
  // The defaults (olmo, adamw) stay out of the spec, so runs of sweeps without these axes are unchanged.
  assertEquals([runs[0].spec.arch, runs[0].spec.optimizer], [undefined, undefined]);
  assertEquals([runs[7].spec.arch, runs[7].spec.optimizer, runs[7].spec.seed], ["nanogpt", "muon", 1]);
  // One optimizer, one arch: neither is in the id; a sweep.json of an older zsl (no axes) expands alike.
  const single = expandSweep(validateSweep({ models: ["tiny"], optimizers: ["cautious"] }));
  assertEquals(single.map((run) => [run.id, run.spec.optimizer]), [["tiny", "cautious"]]);
  const { archs: _a, optimizers: _o, ...older } = defaultSweep();
  assertEquals(expandSweep(older as typeof definition), expandSweep(defaultSweep()));
  for (
    const [raw, message] of [
      [{ archs: ["gpt2"] }, 'archs[0] must be one of olmo, nanogpt, got "gpt2"'],
      [{ optimizers: ["sgd"] }, 'optimizers[0] must be one of adamw, cautious, ademamix, muon, got "sgd"'],
      [{ optimizers: [] }, "optimizers is empty"],
      [
        { common: { optimizer: "muon" } },
        "common.optimizer cannot be set here: the grid sets it: use optimizers",
      ],
      [{ common: { arch: "nanogpt" } }, "common.arch cannot be set here: the grid sets it: use archs"],
      [
        { analyses: { landscapePoints: 50 } },
        "analyses.landscapePoints must be an integer in 1 … 49, got 50",
      ],
      [{ analyses: { landscapeScale: 0 } }, "analyses.landscapeScale must be a number > 0, got 0"],
      [
        { analyses: { decelerationMinStep: 2.5 } },
        "analyses.decelerationMinStep must be an integer ≥ 0, got 2.5",
      ],
    ] as const
  ) {
    assertThrows(() => validateSweep(raw, "s.json"), Error, `zsl: s.json: ${message}`);
  }
  // Presets: each validates as JSON would, and the CPU ablation pairs every optimizer on both archs.
  for (const name of Object.keys(SWEEP_PRESETS)) {
    const preset = sweepPreset(name);
    validateSweep(JSON.parse(JSON.stringify(preset)), name);
    assert(expandSweep(preset).length > 0, name);
  }
  assertEquals(expandSweep(ablationCpuSweep()).map((run) => run.id).slice(0, 4), [
    "cpu-xs_olmo_adamw",
    "cpu-xs_olmo_cautious",
    "cpu-xs_olmo_ademamix",
    "cpu-xs_olmo_muon",
  ]);
  const gpu = expandSweep(sweepPreset("ablation-optimizers"));
  assertEquals(gpu.map((run) => [run.id, run.spec.arch, run.spec.preset]), [
    ["144M_adamw", "nanogpt", "144M"],
    ["144M_cautious", "nanogpt", "144M"],
    ["144M_ademamix", "nanogpt", "144M"],
    ["144M_muon", "nanogpt", "144M"],
  ]);
  assertThrows(
    () => sweepPreset("ablation"),
    Error,
    'unknown sweep preset "ablation": use default, quick, paper',
  );
});

Deno.test({
  name: "sweep: trains each run, estimates the time first, and a rerun skips finished runs",
  ...GPU_TEST,
  async fn() {
    const { gpu } = await testGpu();
    const out = await Deno.makeTempDir({ prefix: "zsl-sweep-" });
    const definition = validateSweep({
      name: "test",
      models: ["tiny"],
      common: { steps: 12, warmup: 2, evalSequences: 4 },
      batches: [4],
      analyses: { deceleration: false, interferenceCheckpoints: false, interferenceOneStep: false },
    });
    const events: SweepEvent[] = [];
    await runSweepLocally(gpu, definition, out, { onEvent: (event) => events.push(event) });
    const estimate = events.find((event) => event.kind === "estimate");
    assert(estimate?.kind === "estimate" && estimate.trainingSeconds > 0, "no time estimate before training");
    assertEquals(events.filter((event) => event.kind === "step").length, 12);
    const again: SweepEvent[] = [];
    await runSweepLocally(gpu, definition, out, { onEvent: (event) => again.push(event) });
    const start = again.find((event) => event.kind === "run-start");
    assert(start?.kind === "run-start" && start.status === "done", "the finished run was not skipped");
    assertEquals(again.filter((event) => event.kind === "step").length, 0);
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test("sweep: the last line compares the time taken with the estimate", () => {
  assertEquals(estimateComparison(150, 161), " (estimated ~2m30s: it took 7% longer)");
  assertEquals(estimateComparison(200, 150), " (estimated ~3m20s: it took 25% less)");
  assertEquals(estimateComparison(100, 100.2), " (estimated ~1m40s: as estimated)");
  assertEquals(estimateComparison(null, 100), "");
});
