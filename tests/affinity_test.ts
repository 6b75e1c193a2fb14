import { assert, assertEquals } from "./asserts.ts";
import { WorkerPinning } from "../src/gpu/affinity.ts";

/** A thread that spins for `ms` (a Web Worker: its own OS thread). */
function spinner(ms: number): Worker {
  const code = `const end = Date.now() + ${ms}; let x = 0; while (Date.now() < end) x++; postMessage(x);`;
  return new Worker(`data:application/javascript,${encodeURIComponent(code)}`, { type: "module" });
}

Deno.test({
  name: "worker pinning: the two threads that ran most since start are pinned, one to a CPU",
  // Pinning needs Linux, glibc through FFI, and two CPUs to spread over.
  ignore: Deno.build.os !== "linux" || navigator.hardwareConcurrency < 2,
  fn: async () => {
    const pinning = WorkerPinning.create();
    assert(pinning !== null, "no pinning on Linux with --allow-ffi for glibc");
    assertEquals(pinning.pin(), [], "nothing is pinned before start");
    const workers = [spinner(400), spinner(400)];
    try {
      await new Promise((resolve) => setTimeout(resolve, 100)); // the workers' threads exist and spin
      pinning.start();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const pinned = pinning.pin();
      assertEquals(pinned.length, 2, `pinned ${pinned.length} threads, expected the two spinning ones`);
      assert(pinned[0] !== pinned[1] && !pinned.includes(Deno.pid), `pinned threads ${pinned}`);
      assertEquals(pinning.pin(), [], "a second pin without start pins nothing");
    } finally {
      for (const worker of workers) worker.terminate();
    }
  },
});

Deno.test("worker pinning: ZSL_PIN_WORKERS=0 turns it off", () => {
  const previous = Deno.env.get("ZSL_PIN_WORKERS");
  Deno.env.set("ZSL_PIN_WORKERS", "0");
  try {
    assertEquals(WorkerPinning.create(), null);
  } finally {
    if (previous === undefined) Deno.env.delete("ZSL_PIN_WORKERS");
    else Deno.env.set("ZSL_PIN_WORKERS", previous);
  }
});
