import { assert, assertEquals, assertThrows } from "./asserts.ts";
import { GPU_TEST, testGpu } from "./helpers.ts";
import { defaultSweep, expandSweep, validateSweep } from "../src/sweep/definition.ts";
import type { SweepEvent } from "../src/sweep/local.ts";
import { runSweepLocally } from "../src/sweep/local.ts";

Deno.test("sweep: the grid expands to one named run per point; bad definitions name the field", () => {
  const definition = {
    ...defaultSweep(),
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
