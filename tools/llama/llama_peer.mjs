// llama.cpp, through node-llama-cpp's prebuilt linux-x64 CPU binary, as the peer that runs
// kllens's GGUF exports. One JSON request (argv[2], or @FILE holding it), one JSON answer
// on stdout:
//   {"model": PATH, "text": STR?, "ids": [..]?, "greedy": N?, "argmax": bool?,
//    "bench": {"prompt": P, "gen": G, "reps": R}?, "threads": T?}
//   → {"tokens": [..] (llama.cpp's tokenisation of text, no BOS/EOS),
//      "greedy": [..] (N tokens continuing ids, temperature 0),
//      "argmax": [..] (llama.cpp's next-token choice after each prefix ids[0..t]),
//      "bench": {"prefill_tps": [..], "decode_tps": [..]}}
// `build: "never"` makes getLlama fail instead of downloading or compiling llama.cpp when
// the prebuilt binary does not load; `gpu: false` picks the CPU binary (ggml's Vulkan
// backend would also skip lavapipe, a CPU-type device, unless GGML_VK_VISIBLE_DEVICES is set).
import {readFileSync} from "node:fs";
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const arg = process.argv[2];
const req = JSON.parse(arg.startsWith("@") ? readFileSync(arg.slice(1), "utf8") : arg);
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath: req.model});
const threads = req.threads ?? 2;
const out = {};

async function freshSequence(size) {
  const context = await model.createContext({contextSize: size, batchSize: size, sequences: 1, threads});
  return {context, sequence: context.getSequence()};
}

if (req.text !== undefined) out.tokens = Array.from(model.tokenize(req.text, false));

const ctxSize = Math.max(256, ((req.ids?.length ?? 0) + (req.greedy ?? 0) + 64));

if (req.ids && req.greedy) {
  const {context, sequence} = await freshSequence(ctxSize);
  const got = [];
  for await (const t of sequence.evaluate(req.ids, {temperature: 0})) {
    got.push(t);
    if (got.length >= req.greedy) break;
  }
  out.greedy = got;
  await context.dispose();
}

if (req.ids && req.argmax) {
  const {context, sequence} = await freshSequence(ctxSize);
  const items = req.ids.map((t) => [t, {generateNext: {token: true, options: {temperature: 0}}}]);
  const res = await sequence.controlledEvaluate(items);
  out.argmax = res.map((r) => r?.next?.token ?? -1);
  await context.dispose();
}

if (req.bench) {
  const {prompt, gen, reps} = req.bench;
  const size = prompt + gen + 16;
  const ids = Array.from({length: prompt}, (_, i) => (i * 7919 + 13) % 4000 + 2);
  out.bench = {prefill_tps: [], decode_tps: []};
  for (let r = 0; r < reps; ++r) {
    const {context, sequence} = await freshSequence(size);
    // Prefill: evaluate the prompt without sampling from it.
    let t0 = process.hrtime.bigint();
    await sequence.evaluateWithoutGeneratingNewTokens(ids);
    const prefill = Number(process.hrtime.bigint() - t0) / 1e9;
    // Decode: one token at a time, greedy, from the prefilled state.
    t0 = process.hrtime.bigint();
    let n = 0;
    for await (const t of sequence.evaluate([ids[prompt - 1]], {temperature: 0})) {
      void t;
      if (++n >= gen) break;
    }
    const decode = Number(process.hrtime.bigint() - t0) / 1e9;
    out.bench.prefill_tps.push(prompt / prefill);
    out.bench.decode_tps.push(gen / decode);
    await context.dispose();
  }
}

process.stdout.write(JSON.stringify(out) + "\n");
await model.dispose();
await llama.dispose();
