import { assert, assertEquals } from "./asserts.ts";
import { StepPace } from "../src/train/pace.ts";

Deno.test("step pace: each step starts when the previous is done or when submitted; median of recent", () => {
  const pace = new StepPace();
  assertEquals(pace.expectedDone(0), null);
  assert(Number.isNaN(pace.medianDuration()), "no duration before any step");
  // Pipelined: submitted while the previous ran, so each starts at the previous one's end.
  pace.record(0, 30);
  pace.record(5, 60);
  assertEquals(pace.expectedDone(35), null, "no estimate from two steps (they compile pipelines)");
  pace.record(35, 90);
  assertEquals(pace.medianDuration(), 30);
  assertEquals(pace.expectedDone(65), 90 + 30);
  // Submitted after a pause (an evaluation): it starts when submitted.
  assertEquals(pace.expectedDone(200), 230);
  pace.record(200, 236);
  assertEquals(pace.medianDuration(), 30, "one slower step (36 ms) does not move the median");
  // One slow step does not move the median; the window keeps only the 9 most recent steps.
  let done = 236;
  for (let i = 0; i < 9; i++) {
    done += i === 4 ? 500 : 20;
    pace.record(0, done);
  }
  assertEquals(pace.medianDuration(), 20);
  assertEquals(pace.expectedDone(done - 5), done + 20);
});
