// Loads the built module (web/pkg) in Node and checks that Lua runs:
// catches a wasm-opt or encoding problem that breaks instantiation or
// exception handling. Run by scripts/build-web.sh after wasm-opt.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { initSync, evalLua } from './pkg/moonvault_web.js';

const wasm = readFileSync(new URL('./pkg/moonvault_web_bg.wasm', import.meta.url));
initSync({ module: wasm });

assert.equal(evalLua('return 1 + 2'), '3');
assert.equal(evalLua('return pcall(error, "boom", 0)'), 'false\tboom');
assert.equal(evalLua('return load(string.dump(function(a) return a * 2 end))(21)'), '42');
assert.throws(() => evalLua('local t = {} for i = 1, 1e7 do t[i] = {} end'), /not enough memory/);
assert.equal(evalLua('collectgarbage() return #{ 1, 2, 3 }'), '3');
console.log('smoke: the optimized module runs Lua in Node', process.version);
