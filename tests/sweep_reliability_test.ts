/**
 * The sweep side of issue #15: field-by-field validation of sweep JSON, `--only` checked before
 * anything is written, one sweep per directory, reruns whose settings changed refused (or restarted),
 * an interrupted sweep, and SLURM array tasks that forward SIGTERM and requeue themselves.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "./asserts.ts";
import { GPU_TEST, taskPermissions, testGpu } from "./helpers.ts";
import { validateSweep } from "../src/sweep/definition.ts";
import type { SweepEvent } from "../src/sweep/local.ts";
import { runSweepLocally } from "../src/sweep/local.ts";
import { lockSweep } from "../src/sweep/guard.ts";
import { preemptionLines, requeueOnInterrupt, sweepJobPermissions } from "../src/sweep/preemption.ts";
import { planSlurmSweep } from "../src/sweep/slurm.ts";
import { LockedError } from "../src/util/lock.ts";
import { listCheckpoints } from "../src/train/checkpoint.ts";

Deno.test("sweep JSON: every bad field is named by its path, with the nearest known name", () => {
  const cases: [unknown, string][] = [
    [{ common: { stpes: 100 } }, 'common.stpes is not a run setting (did you mean "steps"?)'],
    [
      { analyses: { deceleraton: true } },
      'analyses.deceleraton is not an analysis setting (did you mean "deceleration"?)',
    ],
    [
      { models: ["14M"], perModel: { "14M": { microbtch: 32 } } },
      'perModel.14M.microbtch is not a run setting (did you mean "microbatch"?)',
    ],
    [{ perModel: { "14m": { microbatch: 32 } } }, "perModel.14m names no model of the sweep"],
    [{ common: 8 }, "common must be an object of run settings, got 8"],
    [{ analyses: "all" }, 'analyses must be an object (which analyses to run), got "all"'],
    [{ seeds: ["zero"] }, 'seeds[0] must be an integer in 0 … 4294967295, got "zero"'],
    [{ models: [42] }, "models[0] must be a preset name or a config .json path, got 42"],
    [{ models: ["cpu-q"] }, 'models[0] is "cpu-q", neither a preset (did you mean "cpu-s"?)'],
    [{ analyses: { oneStepBatches: "x" } }, 'analyses.oneStepBatches must be an integer ≥ 1, got "x"'],
    [{ common: { batch: 4 } }, "common.batch cannot be set here: the grid sets it: use batches"],
    [{ common: { steps: -5 } }, "common.steps must be an integer ≥ 1, got -5"],
    [{ common: { lr: "3e-4" } }, 'common.lr must be a number > 0, got "3e-4"'],
    [{ batches: [0] }, "batches[0] must be an integer ≥ 1, got 0"],
    [{ schedules: ["wsd"] }, 'schedules[0] must be one of trapezoidal, cosine, got "wsd"'],
    [{ name: "" }, 'name must be a non-empty single-line string (it names the sweep), got ""'],
    [{ stpes: 3 }, "stpes is not a sweep field"],
  ];
  for (const [raw, message] of cases) {
    const error = assertThrows(() => validateSweep(raw, "s.json"), Error, message);
    assert(error.message.startsWith("zsl: s.json: ") && !error.message.includes("\n"), error.message);
  }
  // A valid definition with every kind of field passes.
  validateSweep({
    name: "ok",
    models: ["tiny", "configs/x.json"],
    seeds: [0, 1],
    schedules: ["cosine"],
    batches: [4],
    seqs: [32],
    common: { steps: 10, lr: 1e-3, data: "brown", tokenizer: "bytes", eosId: 0, checkpointMinutes: 5 },
    perModel: { tiny: { microbatch: 2 } },
    analyses: { deceleration: true, oneStepBatches: 2, gradientInterference: "token", gradientSequences: 2 },
  });
});

Deno.test("sweep lock: exclusive for a sweep, shared by array tasks, released with its holder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "zsl-sweep-lock-" });
  const whole = await lockSweep(dir);
  await assertRejects(() => lockSweep(dir), LockedError, `in use by another zsl process (pid ${Deno.pid}`);
  await assertRejects(() => lockSweep(dir, true), LockedError, "sweep directory");
  whole.release();
  const taskA = await lockSweep(dir, true);
  const taskB = await lockSweep(dir, true);
  await assertRejects(() => lockSweep(dir), LockedError, "in use");
  taskA.release();
  taskB.release();
  // A holder killed with SIGKILL leaves its lock file, but not its lock.
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { lockSweep } from "${new URL("../src/sweep/guard.ts", import.meta.url).href}";` +
      `await lockSweep(${JSON.stringify(dir)}); console.log("locked"); setInterval(() => {}, 1000);`,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const reader = child.stdout.getReader();
  assertEquals(new TextDecoder().decode((await reader.read()).value).trim(), "locked");
  await assertRejects(() => lockSweep(dir), LockedError, `pid ${child.pid}`);
  child.kill("SIGKILL");
  await child.status;
  reader.releaseLock();
  await child.stdout.cancel();
  (await lockSweep(dir)).release();
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "sweep: --only is checked before writing; a changed rerun is refused, --restart-changed retrains; SIGTERM",
  ...GPU_TEST,
  async fn() {
    const { gpu } = await testGpu();
    const out = await Deno.makeTempDir({ prefix: "zsl-sweep-change-" });
    const raw = {
      name: "change",
      models: ["tiny"],
      batches: [4],
      common: { steps: 4, warmup: 1, evalSequences: 4 },
      analyses: { deceleration: false, interferenceCheckpoints: false, interferenceOneStep: false },
    };
    const definition = validateSweep(raw);
    await assertRejects(
      () => runSweepLocally(gpu, definition, out, { only: ["nosuchrun"] }),
      Error,
      "--only names run(s) nosuchrun that the sweep does not have; its runs: tiny",
    );
    assertEquals([...Deno.readDirSync(out)], []);
    // Interrupted after its second step: the step in flight then (3) is checkpointed and the sweep returns.
    const controller = new AbortController();
    const stopped = await runSweepLocally(gpu, definition, out, {
      signal: controller.signal,
      onEvent: (event) => event.kind === "step" && event.progress.step === 2 && controller.abort("SIGTERM"),
    });
    assertEquals(stopped.interrupted, "SIGTERM");
    assertEquals(await listCheckpoints(`${out}/runs/tiny`), [1, 2, 3]);
    const events: SweepEvent[] = [];
    await runSweepLocally(gpu, definition, out, { onEvent: (event) => events.push(event) });
    assertEquals(events.filter((event) => event.kind === "step").length, 1, "the rerun resumed after step 3");
    const stored = await Deno.readTextFile(`${out}/sweep.json`);
    // lr added to common: the finished run was trained with another rate.
    const changed = validateSweep({ ...raw, common: { ...raw.common, lr: 2e-3 } });
    const refusal = await assertRejects(
      () => runSweepLocally(gpu, changed, out),
      Error,
      "the sweep's definition changed for run(s) already trained: tiny (schedule.peakLr: ",
    );
    assert(
      refusal.message.includes("→ 0.002") && refusal.message.includes("--restart-changed"),
      refusal.message,
    );
    assertEquals(await Deno.readTextFile(`${out}/sweep.json`), stored);
    // The SLURM planner refuses it the same way, before writing anything.
    await assertRejects(() => planSlurmSweep(changed, out), Error, "schedule.peakLr");
    const restarted: SweepEvent[] = [];
    await runSweepLocally(gpu, changed, out, {
      restartChanged: true,
      onEvent: (event) => restarted.push(event),
    });
    const start = restarted.find((event) => event.kind === "run-start");
    assert(start?.kind === "run-start" && start.status === "new", "the changed run was not restarted");
    assertEquals(JSON.parse(await Deno.readTextFile(`${out}/sweep.json`)).common.lr, 2e-3);
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test("sweep CLI: a second deno task sweep on the same --out refuses at once, naming the holder", async () => {
  const out = await Deno.makeTempDir({ prefix: "zsl-sweep-cli-" });
  const held = await lockSweep(out);
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...taskPermissions("sweep"),
      new URL("../scripts/sweep.ts", import.meta.url).pathname,
      "--out",
      out,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  held.release();
  const stderr = new TextDecoder().decode(result.stderr);
  assertEquals(result.code, 2, stderr);
  assert(
    stderr.includes(`zsl: the sweep directory ${out} is in use by another zsl process (pid ${Deno.pid}`),
    stderr,
  );
  assertEquals([...Deno.readDirSync(out)].map((entry) => entry.name).sort(), [".zsl.lock"]);
  await Deno.remove(out, { recursive: true });
});

/** Runs the array task's wrapper around `stub` in bash with a fake `scontrol`; optionally sends SIGTERM. */
async function runWrapper(stub: string, terminate: boolean) {
  const dir = await Deno.makeTempDir({ prefix: "zsl-requeue-" });
  await Deno.mkdir(`${dir}/bin`);
  await Deno.writeTextFile(`${dir}/bin/scontrol`, `#!/bin/sh\necho "$@" > ${dir}/scontrol\n`, {
    mode: 0o755,
  });
  const script = ["set -euo pipefail", ...requeueOnInterrupt(`exec bash -c ${JSON.stringify(stub)}`)].join(
    "\n",
  );
  const child = new Deno.Command("bash", {
    args: ["-c", script],
    cwd: dir,
    env: { PATH: `${dir}/bin:${Deno.env.get("PATH")}`, SLURM_ARRAY_JOB_ID: "77", SLURM_ARRAY_TASK_ID: "3" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  for (let i = 0; i < 200 && !(await Deno.stat(`${dir}/started`).then(() => true, () => false)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  if (terminate) child.kill("SIGTERM");
  const { code } = await child.output();
  const read = (name: string) => Deno.readTextFile(`${dir}/${name}`).then((t) => t.trim(), () => null);
  const result = { code, scontrol: await read("scontrol"), stubSaw: await read("saw") };
  await Deno.remove(dir, { recursive: true });
  return result;
}

Deno.test("slurm: array tasks ask for SIGTERM before the limit, pass it on, and requeue when interrupted", async () => {
  assertEquals(preemptionLines(), [
    "#SBATCH --signal=B:TERM@300",
    "#SBATCH --requeue",
    "#SBATCH --open-mode=append",
  ]);
  assertEquals(preemptionLines(["--signal=B:USR1@60"]), ["#SBATCH --requeue", "#SBATCH --open-mode=append"]);
  // zsl stand-in: finishes its "step" after TERM, then exits 143 as deno task sweep does.
  const zsl = `trap 'echo TERM > saw; sleep 0.3; exit 143' TERM; touch started; while :; do sleep 0.05; done`;
  assertEquals(await runWrapper(zsl, true), { code: 143, scontrol: "requeue 77_3", stubSaw: "TERM" });
  // Ending by itself: no requeue, its status kept.
  assertEquals(await runWrapper("touch started; exit 0", false), { code: 0, scontrol: null, stubSaw: null });
  assertEquals(await runWrapper("touch started; exit 2", false), { code: 2, scontrol: null, stubSaw: null });
  // The jobs run with deno task sweep's permissions, minus running programs.
  const permissions = sweepJobPermissions(new URL("..", import.meta.url).pathname);
  assert(
    permissions.length > 0 && permissions.every((flag) => !flag.startsWith("--allow-run")),
    permissions.join(" "),
  );
  assert(permissions.some((flag) => flag.startsWith("--allow-ffi=")), permissions.join(" "));
});
